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

/* Move data_root/<tmp> whole into the bucket as <id> and freeze it. A read-only
 * subvolume cannot be moved (its ".." would change): move, then freeze; the bucket is
 * root-only, so nobody writes to it in between. */
static int move_and_freeze(struct privd *pd, int bucket, const char *tmp, const char *id,
			   char *err, size_t errsz)
{
	int rc = bt_set_readonly(pd->data_root_fd, tmp, false, err, errsz);

	if (rc == 0 && renameat(pd->data_root_fd, tmp, bucket, id) < 0) {
		rc = -errno;
		snprintf(err, errsz, "rename: %s", strerror(errno));
	}
	if (rc == 0)
		rc = bt_set_readonly(bucket, id, true, err, errsz);
	return rc;
}

/* Recorded, and no longer a pending delete: a delete of an earlier snapshot of that name
 * is committed by now (the snapshot ioctl commits), and reconcile must not delete it. */
static int record(struct workspace *w, const char *id, const char *message)
{
	struct snapshot *s;

	ws_pending_remove(w, id);
	if (ws_snapshot_find(w, id))
		return 0; /* already recorded */
	s = ws_snapshot_add(w, id);
	if (!s)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &s->created_ts);
	rfc3339_format(&s->created_ts, s->created_at, sizeof(s->created_at));
	s->message = strdup(message);
	return 0;
}

static bool is_pending(const struct workspace *w, const char *id)
{
	for (size_t i = 0; i < w->npending; i++) {
		if (strcmp(w->pending[i], id) == 0)
			return true;
	}
	return false;
}

static bool name_taken(const struct workspace *w, int bucket, const char *id)
{
	return ws_snapshot_find(w, id) || is_pending(w, id) || bt_is_subvol(bucket, id) != 0;
}

/* base, or the first free "<base>-<n>", free in the index, among pending deletes and on
 * disk, into out (which may be base). 0 or -EEXIST. */
static int free_id(const struct workspace *w, int bucket, const char *base, char *out,
		   size_t outsz)
{
	char b[SNAPSHOT_ID_MAX + 1];

	snprintf(b, sizeof(b), "%s", base);
	snprintf(out, outsz, "%s", b);
	for (int n = 2; name_taken(w, bucket, out); n++) {
		if (n > 1000)
			return -EEXIST;
		snprintf(out, outsz, "%s-%d", b, n);
	}
	return 0;
}

/* An "<prefix>-<time>[-n]" id free in the index, among pending deletes and on disk. */
static int free_auto_id(const struct workspace *w, int bucket, const char *prefix, char *out,
			size_t outsz)
{
	char base[SNAPSHOT_ID_MAX + 1];

	snapshot_auto_id(w, prefix, base, sizeof(base));
	return free_id(w, bucket, base, out, outsz);
}

/* tmp holds nested subvolumes, which no snapshot contains: keep it whole too, its data
 * (and theirs) written, since a move and a freeze commit metadata only. */
static int keep_nested(struct privd *pd, struct workspace *w, int bucket, const char *tmp,
		       char *err, size_t errsz)
{
	char nested[SNAPSHOT_ID_MAX + 1];
	int rc = free_auto_id(w, bucket, "auto-nested", nested, sizeof(nested));

	if (rc < 0) {
		snprintf(err, errsz, "no free name for the nested snapshot");
		return rc;
	}
	rc = move_and_freeze(pd, bucket, tmp, nested, err, errsz);
	if (rc == 0 && (rc = bt_commit(pd->data_root_fd, true)) < 0)
		snprintf(err, errsz, "syncfs: %s", strerror(-rc));
	if (rc == 0)
		rc = record(w, nested, "auto: the state kept just before, with its nested subvolumes");
	if (rc == 0)
		log_info("%s holds nested subvolumes: kept whole as %s/%s", tmp, w->ws_id, nested);
	return rc;
}

/*
 * Keep data_root/<tmp> as a read-only snapshot in the bucket, named id (or, when that name
 * is taken, the first free "<id>-<n>", written back to id), record it and remove tmp.
 * Used for the state a rollback replaced, and for a temp left by an interrupted one.
 *
 * A snapshot, not a move: btrfs writes a snapshot source's dirty file data before it
 * commits, so what the user wrote since the last checkpoint is kept with it. A moved and
 * frozen subvolume is committed as metadata only: after a power cut its files were there
 * but empty (tests/integration/test_power_cut.py). The commit also makes a rollback's
 * exchange durable. Subvolumes nested in tmp are in no snapshot: then tmp is kept whole
 * as well, never deleted.
 *
 * 0; or -errno with *kept false (tmp untouched), or true (the snapshot exists, the index
 * could not be written: the next start adopts it).
 */
int snapshot_keep_subvol(struct privd *pd, struct workspace *w, int bucket, const char *tmp,
			 char *id, size_t idsz, const char *message, bool *kept)
{
	char err[512];
	int rc;

	*kept = false;
	if (free_id(w, bucket, id, id, idsz) < 0)
		return -EEXIST;
	rc = bt_snapshot(pd->data_root_fd, tmp, bucket, id, true, err, sizeof(err));
	if (rc < 0) {
		log_err("cannot keep %s as snapshot %s/%s: %s", tmp, w->ws_id, id, err);
		return rc;
	}
	*kept = true;
	crash_point("rollback.moved");
	rc = record(w, id, message);
	if (rc < 0)
		return rc;
	rc = bt_delete_subvol_flat(pd->data_root_fd, tmp, err, sizeof(err));
	if (rc == -ENOTEMPTY)
		rc = keep_nested(pd, w, bucket, tmp, err, sizeof(err));
	if (rc < 0)
		log_warn("kept %s as %s/%s but cannot remove it: %s (the next rollback keeps it again)",
			 tmp, w->ws_id, id, err);
	return index_save(pd, w);
}

/*
 * Is tmp a copy one of the newest snapshots already keeps? That snapshot was made from
 * it (parent uuid) and tmp has not changed since: its tree's last transaction is not
 * after the snapshot's, once everything written to it is committed (a process with a
 * file open in the replaced tree may still have written there, and a kill -9 does not
 * lose page-cache writes). Then tmp is the leftover of a delete a power cut undid, not
 * something to keep twice.
 */
static bool already_kept(struct privd *pd, const struct workspace *w, int bucket,
			 const char *tmp)
{
	struct btrfs_util_subvolume_info ti, si;

	if (bt_commit(pd->data_root_fd, true) < 0 ||
	    bt_subvol_info(pd->data_root_fd, tmp, &ti) < 0)
		return false;
	for (size_t k = 0; k < 3 && k < w->nsnaps; k++) {
		const struct snapshot *s = &w->snaps[w->nsnaps - 1 - k];

		if (bt_subvol_info(bucket, s->id, &si) == 0 &&
		    memcmp(si.parent_uuid, ti.uuid, sizeof(ti.uuid)) == 0 &&
		    ti.generation <= si.otransid)
			return true;
	}
	return false;
}

int rollback_tmp_recover(struct privd *pd, struct workspace *w, int bucket, const char *tmp)
{
	char id[SNAPSHOT_ID_MAX + 1];
	bool kept;

	if (bt_is_subvol(pd->data_root_fd, tmp) != 1)
		return 0;
	if (already_kept(pd, w, bucket, tmp)) {
		char err[512];

		if (bt_delete_subvol_flat(pd->data_root_fd, tmp, err, sizeof(err)) == 0) {
			log_info("removed leftover %s: unchanged since it was kept as a snapshot", tmp);
			return 0;
		}
		log_warn("cannot remove leftover %s: %s", tmp, err);
	}
	/* We cannot tell which side of the exchange it is from: never delete, keep it. */
	if (free_auto_id(w, bucket, "auto-recovered", id, sizeof(id)) < 0)
		return -EEXIST;
	log_warn("found leftover %s from an interrupted rollback; keeping it as snapshot %s", tmp, id);
	return snapshot_keep_subvol(pd, w, bucket, tmp, id, sizeof(id),
				    "auto: recovered from an interrupted rollback", &kept);
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
