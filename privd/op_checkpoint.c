/*
 * checkpoint: one read-only snapshot ioctl plus a durable index record. The reply is
 * sent only after the record is fdatasync'd, so an acknowledged snapshot survives kill -9
 * and a power cut; the record is written while the snapshot is made (record_ahead).
 */
#include <btrfsutil.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/bucket.h"
#include "privd/fsutil.h"
#include "privd/init.h"
#include "privd/ops.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

static enum ws_err snap_errcode(int e)
{
	return (e == -ENOSPC || e == -EDQUOT) ? WSE_DISK_SPACE : WSE_BTRFS;
}

/* skipped: NULL when a snapshot was taken, else the reason ("empty", "unchanged"). */
static void reply_done(const struct req_ctx *rc, const struct workspace *w, const char *id,
		       const char *skipped, bool initialized)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "snapshot", id);
	cJSON_AddBoolToObject(r, "skipped", skipped != NULL);
	if (skipped)
		cJSON_AddStringToObject(r, "reason", skipped);
	cJSON_AddBoolToObject(r, "initialized", initialized);
	reply_ok(rc, r);
}

/* 1 empty, 0 has content, <0 error (reply sent). */
static int live_is_empty(struct privd *pd, const struct req_ctx *rc, const struct workspace *w)
{
	int fd = open_beneath(pd->data_root_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	int empty;

	if (fd < 0) {
		reply_err(rc, WSE_IO, "Check the daemon log; the backend may have lost this subvolume.",
			  "cannot open live subvolume of %s: %s", w->ws_id, strerror(-fd));
		return -1;
	}
	empty = dir_is_empty(fd);
	close(fd);
	if (empty < 0)
		reply_err(rc, WSE_IO, NULL, "cannot read live subvolume of %s: %s", w->ws_id,
			  strerror(-empty));
	return empty;
}

/*
 * Nothing changed since the head snapshot was taken when the live subvolume's last
 * change (ctransid) is not newer than the transaction that created the snapshot
 * (otransid): a commit and two ioctls, no tree walk.
 */
static bool unchanged_since_head(struct privd *pd, const struct workspace *w)
{
	struct btrfs_util_subvolume_info live, head;
	const struct snapshot *s = w->head[0] ? ws_snapshot_find(w, w->head) : NULL;
	int lfd, bucket, hfd = -1;
	bool same = false;

	if (!s || s->missing)
		return false;
	lfd = open_beneath(pd->data_root_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket >= 0)
		hfd = open_beneath(bucket, s->id, O_RDONLY | O_DIRECTORY);
	/* The root item's ctransid is only updated when a transaction commits: commit first
	 * (as costly as the snapshot it may save, and far cheaper than a tree walk). */
	if (lfd >= 0 && hfd >= 0 && syncfs(lfd) == 0 &&
	    btrfs_util_subvolume_info_fd(lfd, 0, &live) == BTRFS_UTIL_OK &&
	    btrfs_util_subvolume_info_fd(hfd, 0, &head) == BTRFS_UTIL_OK)
		same = live.ctransid <= head.otransid;
	if (lfd >= 0)
		close(lfd);
	if (hfd >= 0)
		close(hfd);
	if (bucket >= 0)
		close(bucket);
	return same;
}

static int record_snapshot(struct privd *pd, struct workspace *w, const struct ps_request *req,
			   const char *metadata)
{
	struct snapshot *s = ws_snapshot_add(w, req->snapshot);

	if (!s)
		return -ENOMEM;
	/* A delete of an earlier snapshot of this name is committed now (the snapshot ioctl
	 * commits): its intent must not make reconcile delete this one. */
	ws_pending_remove(w, req->snapshot);
	clock_gettime(CLOCK_REALTIME, &s->created_ts);
	rfc3339_format(&s->created_ts, s->created_at, sizeof(s->created_at));
	s->pinned = req->flags & PSF_PIN;
	/* History: the new snapshot continues from the head, and becomes it. */
	snprintf(s->parent, sizeof(s->parent), "%s", w->head);
	if ((req->flags & PSF_HAS_MESSAGE) && !(s->message = strdup(req->message)))
		goto nomem;
	if (metadata && strcmp(metadata, "null") != 0 && !(s->metadata = strdup(metadata)))
		goto nomem;
	return 0;
nomem:
	ws_snapshot_remove(w, s);
	return -ENOMEM;
}

/* The snapshot's record could not be written: take it and its head back (the caller
 * removes the snapshot, if made). */
static void unrecord(struct workspace *w, const char *id, const char *old_head)
{
	w->creating[0] = '\0';
	snprintf(w->head, sizeof(w->head), "%s", old_head);
	ws_snapshot_remove(w, ws_snapshot_find(w, id));
}

/*
 * The record of a checkpoint is written before its snapshot, so that its fdatasync runs
 * while btrfs commits (as a discarding rollback's intent does, privd/op_rollback.c). It
 * marks the snapshot "creating": after a crash the start drops the record if the
 * subvolume is not there (the checkpoint was never answered) and keeps it if it is (the
 * ioctl makes and commits a snapshot in one transaction). So it is done only when the
 * snapshot has nothing else to settle: no delete or rollback intent is pending (the
 * record could not clear them before the commit, and a lingering delete intent could
 * later take a reused name), and nothing of that name is in the bucket already (a stray
 * subvolume would be kept as this checkpoint); nor when the save cannot be split
 * (index_save_begin). true when the record is being saved.
 */
static bool record_ahead(struct privd *pd, struct workspace *w, int bucket,
			 const struct ps_request *req, const char *metadata,
			 struct index_save_async *save, char *old_head, size_t headsz)
{
	if (!pd->aio.ready || w->npending > 0 || w->rb.active ||
	    bt_is_subvol(bucket, req->snapshot) != 0)
		return false;
	snprintf(old_head, headsz, "%s", w->head);
	if (record_snapshot(pd, w, req, metadata) < 0)
		return false;
	snprintf(w->head, sizeof(w->head), "%s", req->snapshot);
	snprintf(w->creating, sizeof(w->creating), "%s", req->snapshot);
	if (index_save_begin(pd, w, save) == 0)
		return true;
	unrecord(w, req->snapshot, old_head);
	return false;
}

/* The snapshot was made: wait for the record written ahead (record_ahead: no intent was
 * pending, so the snapshot settled nothing else). 0 or -errno. */
static int record_ahead_end(struct privd *pd, struct workspace *w, const char *id,
			    const char *old_head, struct index_save_async *save)
{
	int rc = index_save_end(pd, w, save);

	if (rc < 0)
		unrecord(w, id, old_head);
	else
		w->creating[0] = '\0';
	return rc;
}

/* Record the snapshot just made (not written ahead). 0 or -errno. */
static int record_after(struct privd *pd, struct workspace *w, int bucket,
			const struct ps_request *req, const char *metadata)
{
	char old_head[SNAPSHOT_ID_MAX + 1];
	struct rollback_intent old_rb = w->rb;
	int rc = record_snapshot(pd, w, req, metadata);

	if (rc < 0)
		return rc;
	snprintf(old_head, sizeof(old_head), "%s", w->head);
	snprintf(w->head, sizeof(w->head), "%s", req->snapshot);
	/* The snapshot ioctl committed a rollback's exchange, if one was pending, and every
	 * delete made before it. */
	w->rb.active = false;
	(void)pending_drop_committed(w, bucket);
	rc = index_save(pd, w);
	if (rc < 0) {
		w->rb = old_rb;
		unrecord(w, req->snapshot, old_head);
	}
	return rc;
}

/* The snapshot was not made: take back the record written ahead (if that fails too,
 * the start drops it, finding no subvolume). */
static void record_ahead_abandon(struct privd *pd, struct workspace *w, const char *id,
				 const char *old_head, struct index_save_async *save)
{
	(void)index_save_end(pd, w, save);
	unrecord(w, id, old_head);
	if (index_save(pd, w) < 0)
		log_warn("checkpoint %s/%s failed and its record is still in the index (dropped at the next start)",
			 w->ws_id, id);
}

static void do_checkpoint(struct privd *pd, const struct req_ctx *rc, const struct ps_request *req,
			  const char *metadata, struct workspace *w, bool initialized)
{
	char err[512], old_head[SNAPSHOT_ID_MAX + 1];
	struct index_save_async save;
	int bucket, rc2, empty;
	bool ahead;

	if (ws_snapshot_find(w, req->snapshot)) {
		reply_err(rc, WSE_SNAPSHOT_EXISTS, "Please use a different snapshot ID.",
			  "snapshot '%s' already exists in workspace %s", req->snapshot, w->ws_id);
		return;
	}
	if (pd->cfg.max_snapshots_per_workspace && w->nsnaps >= pd->cfg.max_snapshots_per_workspace) {
		reply_err(rc, WSE_QUOTA_EXCEEDED, "Delete old snapshots with 'ws-ckpt delete'.",
			  "workspace %s already has %zu snapshots (max_snapshots_per_workspace = %u)",
			  w->ws_id, w->nsnaps, pd->cfg.max_snapshots_per_workspace);
		return;
	}
	empty = live_is_empty(pd, rc, w);
	if (empty < 0)
		return;
	if (empty) {
		reply_done(rc, w, req->snapshot, "empty", initialized);
		return;
	}
	if ((req->flags & PSF_SKIP_UNCHANGED) && unchanged_since_head(pd, w)) {
		reply_done(rc, w, req->snapshot, "unchanged", initialized);
		return;
	}
	bucket = bucket_open(pd, w);
	if (bucket < 0) {
		reply_err(rc, WSE_IO, NULL, "cannot open snapshot bucket of %s: %s", w->ws_id,
			  strerror(-bucket));
		return;
	}
	ahead = record_ahead(pd, w, bucket, req, metadata, &save, old_head, sizeof(old_head));
	crash_point("checkpoint.begun");
	rc2 = bt_snapshot(pd->data_root_fd, w->ws_id, bucket, req->snapshot, true, err, sizeof(err));
	if (rc2 < 0) {
		if (ahead)
			record_ahead_abandon(pd, w, req->snapshot, old_head, &save);
		close(bucket);
		reply_err(rc, snap_errcode(rc2), NULL, "checkpoint of %s failed: %s", w->ws_id, err);
		return;
	}
	crash_point("checkpoint.snapshot");
	rc2 = ahead ? record_ahead_end(pd, w, req->snapshot, old_head, &save)
		    : record_after(pd, w, bucket, req, metadata);
	if (rc2 < 0) {
		/* Not acknowledged, so not kept: disk and index stay in agreement. The snapshot
		 * ioctl committed its creation and no intent records this delete, so it is
		 * committed here, or a power cut would bring it back to be adopted. */
		/* Until that commit, its name counts as a pending delete in this run: no later
		 * checkpoint of the name is recorded ahead of its snapshot. */
		(void)ws_pending_add(w, req->snapshot);
		if (bt_delete_subvol(bucket, req->snapshot, err, sizeof(err)) < 0)
			log_err("cannot remove unrecorded snapshot %s/%s: %s", w->ws_id, req->snapshot, err);
		else if (bt_commit(bucket, false) < 0)
			log_err("cannot commit the removal of unrecorded snapshot %s/%s", w->ws_id,
				req->snapshot);
		close(bucket);
		reply_err(rc, rc2 == -ENOSPC ? WSE_DISK_SPACE : WSE_IO, NULL,
			  "cannot record snapshot %s: %s", req->snapshot, strerror(-rc2));
		return;
	}
	close(bucket);
	crash_point("checkpoint.indexed");
	log_info("checkpoint %s/%s created", w->ws_id, req->snapshot);
	reply_done(rc, w, req->snapshot, NULL, initialized);
}

void op_checkpoint_after_init(struct privd *pd, const struct req_ctx *rc, uid_t uid,
			      const struct ps_request *req, const char *metadata,
			      struct workspace *w)
{
	(void)uid;
	do_checkpoint(pd, rc, req, metadata, w, true);
}

void op_checkpoint(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_find_visible(pd, c->peer, c->req->workspace);

	if (!w && !ws_id_valid(c->req->workspace)) {
		/* An unregistered directory is initialised first, then snapshotted. */
		init_start(pd, c, true);
		return;
	}
	w = ws_lookup(pd, c, c->req->workspace, true);
	if (!w)
		return;
	do_checkpoint(pd, &c->rc, c->req, c->metadata, w, false);
}
