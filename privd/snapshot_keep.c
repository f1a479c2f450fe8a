/*
 * Nothing under our data root is ever deleted by name pattern: a subvolume we find and
 * cannot account for becomes a recorded snapshot, so a crash can cost an extra snapshot
 * but never data.
 */
#include "privd/snapshot_keep.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/state_store.h"

void snapshot_auto_id(const struct workspace *w, const char *prefix, char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;
	char base[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(base, sizeof(base), "%s-%04d%02d%02dT%02d%02d%02d", prefix, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(out, outsz, "%s", base);
	for (int n = 2; ws_snapshot_find(w, out); n++)
		snprintf(out, outsz, "%s-%d", base, n);
}

/*
 * Move data_root/<tmp> into the bucket as a read-only snapshot and record it.
 * Used for the state a rollback replaced, and for a temp left by an interrupted one.
 */
int snapshot_keep_subvol(struct privd *pd, struct workspace *w, int bucket, const char *tmp,
			    const char *id, const char *message)
{
	char err[512];
	struct snapshot *s;
	int rc;

	/* A read-only subvolume cannot be moved (its ".." would change): move, then freeze.
	 * The bucket is root-only, so nobody can write to it in between. Setting the flag
	 * commits the btrfs transaction, so the move is durable before it is recorded (a
	 * record whose move a power cut undid would read as a lost snapshot). */
	rc = bt_set_readonly(pd->data_root_fd, tmp, false, err, sizeof(err));
	if (rc == 0 && renameat(pd->data_root_fd, tmp, bucket, id) < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "rename: %s", strerror(errno));
	}
	crash_point("rollback.moved");
	if (rc == 0)
		rc = bt_set_readonly(bucket, id, true, err, sizeof(err));
	if (rc < 0) {
		log_err("cannot keep %s as snapshot %s/%s: %s", tmp, w->ws_id, id, err);
		return rc;
	}
	if (ws_snapshot_find(w, id))
		return index_save(pd, w); /* recorded before a crash undid the move (reconcile) */
	s = ws_snapshot_add(w, id);
	if (!s)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &s->created_ts);
	rfc3339_format(&s->created_ts, s->created_at, sizeof(s->created_at));
	s->message = strdup(message);
	return index_save(pd, w);
}

int rollback_tmp_recover(struct privd *pd, struct workspace *w, int bucket, const char *tmp)
{
	char id[SNAPSHOT_ID_MAX + 1];

	if (bt_is_subvol(pd->data_root_fd, tmp) != 1)
		return 0;
	/* We cannot tell which side of the exchange it is from: never delete, keep it. */
	snapshot_auto_id(w, "auto-recovered", id, sizeof(id));
	log_warn("found leftover %s from an interrupted rollback; keeping it as snapshot %s", tmp, id);
	return snapshot_keep_subvol(pd, w, bucket, tmp, id, "auto: recovered from an interrupted rollback");
}

static int adopt_one(struct privd *pd, struct workspace *w, int bucket, const char *name)
{
	struct btrfs_util_subvolume_info info;
	struct snapshot *s;
	int fd = open_beneath(bucket, name, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return 0;
	if (btrfs_util_subvolume_info_fd(fd, 0, &info) != BTRFS_UTIL_OK) {
		close(fd);
		return 0; /* not a subvolume: not ours to record */
	}
	/* A crash between moving a subvolume into the bucket and freezing it leaves it
	 * writable (and the owner can reach it through the bucket ACL): freeze it now. */
	if (btrfs_util_set_subvolume_read_only_fd(fd, true) != BTRFS_UTIL_OK) {
		log_err("cannot make adopted snapshot %s/%s read-only; leaving it unrecorded", w->ws_id, name);
		close(fd);
		return 0;
	}
	close(fd);
	s = ws_snapshot_add(w, name);
	if (!s)
		return -ENOMEM;
	s->created_ts = info.otime;
	rfc3339_format(&s->created_ts, s->created_at, sizeof(s->created_at));
	s->message = strdup("adopted: found on disk without an index entry");
	log_warn("Snapshot %s of %s found on disk but not in the index: adopted", name, w->ws_id);
	return 1;
}

static bool is_pending(const struct workspace *w, const char *id)
{
	for (size_t i = 0; i < w->npending; i++) {
		if (strcmp(w->pending[i], id) == 0)
			return true;
	}
	return false;
}

int snapshot_adopt_orphans(struct privd *pd, struct workspace *w, int bucket,
			   const struct bucket_scan *bs)
{
	int adopted = 0, rc;

	for (size_t i = 0; i < bs->n; i++) {
		const char *name = bs->e[i].name;

		if (bs->e[i].matched || !snapshot_id_valid(name) || is_pending(w, name))
			continue;
		rc = adopt_one(pd, w, bucket, name);
		if (rc < 0)
			break;
		adopted += rc;
	}
	if (adopted) {
		ws_sort_snapshots(w);
		index_save(pd, w);
	}
	return adopted;
}
