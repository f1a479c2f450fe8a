/*
 * Reconcile at every start. Interrupted inits are finished or undone by looking at what
 * is on disk (the swap is atomic, so the user's path is either the original directory or
 * our symlink). Snapshots whose subvolume vanished are flagged, never silently dropped.
 */
#include "privd/reconcile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/bucket.h"
#include "privd/bucket_scan.h"
#include "privd/fsutil.h"
#include "privd/init.h"
#include "privd/ops.h"
#include "privd/recover.h"
#include "privd/rollback_finish.h"
#include "privd/snapshot_keep.h"
#include "privd/state_store.h"
#include "privd/wslink.h"

/* 1: completed, 2: undone and removed from the registry. */
static int finish_init(struct privd *pd, struct workspace *w)
{
	char err[512];

	if (ws_link_check(pd, w) == WSL_OK) {
		log_warn("init of %s (%s) was interrupted after the swap: completing it. The original directory may remain as " INIT_LINK_FMT " next to it; remove it by hand once satisfied.",
			 w->path, w->ws_id, w->ws_id);
		w->phase = WS_READY;
		index_save(pd, w);
		return 1;
	}
	log_warn("init of %s (%s) was interrupted before the swap: undoing it (the directory is untouched)",
		 w->path, w->ws_id);
	if (bt_is_subvol(pd->data_root_fd, w->ws_id) == 1 &&
	    bt_delete_subvol(pd->data_root_fd, w->ws_id, err, sizeof(err)) < 0)
		log_err("cannot remove subvolume %s: %s", w->ws_id, err);
	registry_remove(&pd->reg, w);
	return 2;
}

static int check_snapshots(struct privd *pd, struct workspace *w, const struct bucket_scan *bs)
{
	int changes = 0;

	for (size_t i = 0; i < w->nsnaps; i++) {
		struct snapshot *s = &w->snaps[i];
		struct bucket_entry *e = bucket_scan_find(bs, s->id);
		bool present = e != NULL;

		if (e)
			e->matched = true;
		if (!present && !s->missing) {
			log_err("Snapshot %s subvolume missing at %s/%s/%s, marking as unavailable", s->id,
				pd->be.snapshots_root, w->ws_id, s->id);
			s->missing = true;
			ws_snapshot_touch(s);
			changes++;
		} else if (present && s->missing) {
			log_info("Snapshot %s subvolume recovered", s->id);
			s->missing = false;
			ws_snapshot_touch(s);
			changes++;
		}
	}
	if (changes)
		index_save(pd, w);
	return changes;
}

/* Recorded snapshots against the bucket's content: missing ones flagged, unrecorded
 * subvolumes adopted. One listing of the bucket serves both. */
static int check_bucket(struct privd *pd, struct workspace *w)
{
	int bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	struct bucket_scan bs = { 0 };
	int changes, rc;

	if (bucket >= 0 && (rc = bucket_scan(bucket, &bs)) < 0) {
		log_err("cannot list the snapshots of %s: %s; leaving its index as it is", w->ws_id,
			strerror(-rc));
		close(bucket);
		return 0;
	}
	changes = check_snapshots(pd, w, &bs);
	if (bucket >= 0)
		changes += snapshot_adopt_orphans(pd, w, bucket, &bs);
	bucket_scan_free(&bs);
	if (bucket >= 0)
		close(bucket);
	return changes;
}

/* Finish deletes that were recorded but interrupted, or not yet committed. */
static int finish_deletes(struct privd *pd, struct workspace *w)
{
	int bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	char err[512];
	int n = 0;
	bool dropped = false;

	/* A recorded snapshot is never a pending delete's to remove (a name deleted, then
	 * checkpointed again). */
	for (size_t i = 0; i < w->npending;) {
		if (ws_snapshot_find(w, w->pending[i])) {
			char id[SNAPSHOT_ID_MAX + 1];

			snprintf(id, sizeof(id), "%s", w->pending[i]);
			log_warn("snapshot %s/%s is recorded and also pending deletion: kept", w->ws_id, id);
			ws_pending_remove(w, id);
			dropped = true;
		} else {
			i++;
		}
	}
	for (size_t i = 0; bucket >= 0 && i < w->npending; i++) {
		if (bt_is_subvol(bucket, w->pending[i]) != 1)
			continue;
		if (bt_delete_subvol(bucket, w->pending[i], err, sizeof(err)) < 0) {
			log_err("cannot finish deleting %s/%s: %s", w->ws_id, w->pending[i], err);
			continue;
		}
		log_info("finished interrupted delete of snapshot %s/%s", w->ws_id, w->pending[i]);
		n++;
	}
	if (bucket >= 0)
		close(bucket);
	if (bucket == -ENOENT && w->npending > 0) { /* no bucket: nothing of them is left */
		w->npending = 0;
		index_save(pd, w);
	} else if (w->npending > 0) {
		(void)pending_settle(pd, w); /* saves the index if it drops any */
	}
	if (dropped)
		index_save(pd, w);
	return n;
}

/* A checkpoint recorded before its snapshot was made (op_checkpoint.c): keep the record if
 * the subvolume is there, drop it if not (that checkpoint was never answered). */
static int finish_checkpoint(struct privd *pd, struct workspace *w)
{
	struct snapshot *s = w->creating[0] ? ws_snapshot_find(w, w->creating) : NULL;
	int bucket, present;

	if (!w->creating[0])
		return 0;
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket >= 0) {
		present = bt_is_subvol(bucket, w->creating);
		close(bucket);
	} else {
		present = bucket == -ENOENT ? 0 : bucket;
	}
	if (present < 0) { /* cannot tell: the marker stays for the next start to decide */
		log_err("cannot tell whether checkpoint %s/%s was made: %s", w->ws_id, w->creating,
			strerror(-present));
		return 0;
	}
	if (s && present == 0) {
		log_warn("checkpoint %s/%s was recorded but its snapshot was not made before the crash (it was never answered): record dropped",
			 w->ws_id, w->creating);
		if (strcmp(w->head, s->id) == 0)
			snprintf(w->head, sizeof(w->head), "%s", s->parent);
		ws_snapshot_remove(w, s);
	}
	w->creating[0] = '\0';
	(void)index_save(pd, w); /* reconcile_all folds it into index.json */
	return 1;
}

static int recover_rollback(struct privd *pd, struct workspace *w)
{
	char tmp[64];
	int bucket, rc, finished = rollback_finish(pd, w);

	if (finished < 0)
		return 0; /* an acknowledged rollback not settled: its temporary is not a leftover */
	snprintf(tmp, sizeof(tmp), "%s.rollback-tmp", w->ws_id);
	if (bt_is_subvol(pd->data_root_fd, tmp) != 1)
		return finished;
	bucket = bucket_open(pd, w);
	if (bucket < 0)
		return 0;
	rc = rollback_tmp_recover(pd, w, bucket, tmp);
	close(bucket);
	return rc < 0 ? 0 : 1;
}

static void check_link(struct privd *pd, const struct workspace *w)
{
	int rc;

	switch (ws_link_check(pd, w)) {
	case WSL_MISSING:
		rc = ws_link_restore(pd, w);
		if (rc == 0)
			log_warn("workspace symlink %s was missing: recreated", w->path);
		else
			log_err("workspace symlink %s is missing and cannot be recreated: %s", w->path,
				strerror(-rc));
		break;
	case WSL_REPLACED:
		log_err("workspace %s: %s is no longer the ws-ckpt symlink (something else is there); operations on it are refused until it is moved away",
			w->ws_id, w->path);
		break;
	default:
		break;
	}
}

int reconcile_all(struct privd *pd)
{
	int changes = 0;
	char err[512];

	for (size_t i = 0; i < pd->reg.n;) {
		struct workspace *w = pd->reg.ws[i];
		int rc = index_load(pd, w, err, sizeof(err));

		if (rc < 0 && rc != -ENOENT)
			log_err("%s", err);
		if (w->phase == WS_RECOVERING) {
			changes++;
			/* Swapped: the old link proves it; or already past deleting the subvolume,
			 * with a plain directory at the path: nothing is left to lose. */
			if (recover_swapped(pd, w) ||
			    (ws_link_check(pd, w) == WSL_REPLACED &&
			     bt_is_subvol(pd->data_root_fd, w->ws_id) == 0)) {
				log_warn("recover of %s (%s) was interrupted after the swap: finishing it",
					 w->path, w->ws_id);
				recover_finish(pd, w);
				continue;
			}
			log_warn("recover of %s (%s) was interrupted before the swap: the workspace stays managed (a partial copy may remain as " RECOVER_TMP_FMT ")",
				 w->path, w->ws_id, w->ws_id);
			w->phase = WS_READY;
		}
		if (w->phase == WS_INITIALIZING) {
			changes++;
			if (finish_init(pd, w) == 2)
				continue; /* removed: ws[i] is now the next one */
		}
		changes += finish_checkpoint(pd, w);
		/* The rollback first: a redo checks its copy against the target snapshot, whose
		 * delete, if recorded after it, the power cut undid as it undid the exchange. */
		changes += recover_rollback(pd, w);
		changes += finish_deletes(pd, w);
		if (bt_is_subvol(pd->data_root_fd, w->ws_id) != 1)
			log_err("workspace %s (%s): live subvolume %s/%s is missing", w->ws_id, w->path,
				pd->be.data_root, w->ws_id);
		else
			check_link(pd, w);
		changes += check_bucket(pd, w);
		/* The journal was folded when the index was loaded: what reconciling saved
		 * goes into index.json too, so that it stays whole after a start. */
		if (w->journal_bytes > 0 && index_compact(pd, w) < 0)
			log_err("cannot write the index of %s", w->ws_id);
		i++;
	}
	if (changes)
		state_save(pd);
	return changes;
}
