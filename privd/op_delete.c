/* delete: one snapshot, confirmed by the caller; the subvolume goes first, then the record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

/* Delete intents a workspace may carry before a delete commits them all at once. */
#define PENDING_LAZY_MAX 16

/* Without -w: the id must name exactly one snapshot among the workspaces the caller sees. */
static struct workspace *find_owner_ws(struct privd *pd, const struct op_call *c)
{
	struct workspace *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];
		if (peer_may_access(pd, c->peer, w->owner_uid) && ws_snapshot_find(w, c->req->snapshot)) {
			found = w;
			n++;
		}
	}
	if (n == 0) {
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, "Use 'ws-ckpt list' to view available snapshots.",
			  "snapshot not found: %s", c->req->snapshot);
		return NULL;
	}
	if (n > 1) {
		reply_err(&c->rc, WSE_INVALID_ARGUMENT, "Pass -w to say which workspace.",
			  "snapshot id %s exists in %zu workspaces", c->req->snapshot, n);
		return NULL;
	}
	if (found->busy || found->phase != WS_READY) {
		reply_err(&c->rc, WSE_WRITE_LOCK_CONFLICT, "Retry when the running operation has finished.",
			  "workspace %s is busy", found->ws_id);
		return NULL;
	}
	return found;
}

static void reply_done(const struct req_ctx *rc, const struct workspace *w, const char *id)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "snapshot", id);
	reply_ok(rc, r);
}

/* Put a record back after a failed subvolume delete (the subvolume is still there). */
static void restore_record(struct workspace *w, struct snapshot *saved)
{
	struct snapshot *s = ws_snapshot_add(w, saved->id);

	ws_pending_remove(w, saved->id);
	if (s) {
		*s = *saved;
		ws_snapshot_touch(s);
	} else
		snapshot_clear(saved);
}

/*
 * Delete intent first (record gone, id in pending_delete, fsync'd), then the subvolume,
 * then the intent is cleared. Reconcile finishes an interrupted delete, so the index
 * never names a snapshot that is gone (no phantom) and no subvolume is left unnamed.
 */
int snapshot_delete(struct privd *pd, struct workspace *w, struct snapshot *s, char *err,
			   size_t errsz)
{
	struct snapshot saved = *s;
	int bucket, rc;

	if (ws_pending_add(w, s->id) < 0) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	s->message = s->metadata = NULL; /* now owned by saved */
	ws_snapshot_remove(w, s);
	/* Keep the history connected around the removed snapshot. */
	if (strcmp(w->head, saved.id) == 0)
		snprintf(w->head, sizeof(w->head), "%s", saved.parent);
	for (size_t i = 0; i < w->nsnaps; i++) {
		if (strcmp(w->snaps[i].parent, saved.id) == 0) {
			snprintf(w->snaps[i].parent, sizeof(w->snaps[i].parent), "%s", saved.parent);
			ws_snapshot_touch(&w->snaps[i]);
		}
	}
	rc = index_save(pd, w);
	if (rc < 0) {
		restore_record(w, &saved);
		snprintf(err, errsz, "cannot write the index: %s", strerror(-rc));
		return rc;
	}
	crash_point("delete.intent");
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	rc = bucket < 0 ? bucket : bt_delete_subvol(bucket, saved.id, err, errsz);
	if (bucket >= 0)
		close(bucket);
	if (rc < 0 && rc != -ENOENT) {
		if (bucket < 0)
			snprintf(err, errsz, "cannot open snapshot bucket: %s", strerror(-bucket));
		restore_record(w, &saved);
		index_save(pd, w);
		return rc;
	}
	if (rc == -ENOENT && !saved.missing)
		log_warn("snapshot %s/%s had no subvolume; removing the record", w->ws_id, saved.id);
	crash_point("delete.subvol");
	snapshot_clear(&saved);
	return 0; /* the id stays pending until a commit covers the delete */
}

bool pending_drop_committed(struct workspace *w, int bucket)
{
	size_t i = 0, before = w->npending;

	while (i < w->npending) {
		char id[SNAPSHOT_ID_MAX + 1];

		snprintf(id, sizeof(id), "%s", w->pending[i]);
		if (bt_is_subvol(bucket, id) == 0)
			ws_pending_remove(w, id);
		else
			i++;
	}
	return w->npending != before;
}

/*
 * A delete intent goes only once a btrfs commit covers the delete: after a power cut a
 * subvolume whose delete btrfs had not committed is back, and the next start must delete
 * it again rather than adopt it as an unknown snapshot. Commits, then forgets every
 * pending id no longer on disk (a diff's temporary snapshot still in use stays).
 */
int pending_settle(struct privd *pd, struct workspace *w)
{
	int bucket, rc;
	bool dropped = false;

	if (w->npending == 0)
		return 0;
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket < 0)
		return bucket;
	/* fsync of the bucket commits: btrfs cannot log the removal of a subvolume entry */
	rc = bt_commit(bucket, false);
	if (rc == 0)
		dropped = pending_drop_committed(w, bucket);
	close(bucket);
	if (rc < 0) {
		log_warn("cannot commit the deletes of %s (%s); their intents stay recorded", w->ws_id,
			 strerror(-rc));
		return rc;
	}
	return dropped ? index_save(pd, w) : 0;
}

void pending_settle_all(struct privd *pd)
{
	/* Through each bucket, as pending_settle does: an fsync returns the commit's error
	 * (syncfs did not on kernels before 5.17); the first one commits, the rest are cheap. */
	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];

		/* it logs a failed commit; a failed save is rewritten by the compaction */
		if (w->npending > 0)
			(void)pending_settle(pd, w);
	}
}

void op_delete(struct privd *pd, const struct op_call *c)
{
	struct workspace *w;
	struct snapshot *s;
	char err[512], id[SNAPSHOT_ID_MAX + 1];

	w = (c->req->flags & PSF_HAS_WORKSPACE) ? ws_lookup(pd, c, c->req->workspace, true)
						: find_owner_ws(pd, c);
	if (!w)
		return;
	s = snap_lookup(c, w, c->req->snapshot);
	if (!s)
		return;
	if (!(c->req->flags & PSF_FORCE)) {
		reply_err(&c->rc, WSE_CONFIRMATION_REQUIRED, NULL,
			  "Delete snapshot '%s' of workspace %s (%s)? This cannot be undone.", s->id,
			  w->path, w->ws_id);
		return;
	}
	snprintf(id, sizeof(id), "%s", s->id); /* the reference may have been a prefix */
	if (snapshot_delete(pd, w, s, err, sizeof(err)) < 0) {
		reply_err(&c->rc, WSE_BTRFS, NULL, "cannot delete snapshot %s: %s", id, err);
		return;
	}
	/* No commit of its own: the journaled intent makes the answer true across a power
	 * cut (the start deletes the subvolume again if btrfs lost the delete), and the
	 * workspace's next checkpoint, the stop or the start commits it and drops the
	 * intent. Only a long run of deletes with nothing in between pays for one commit, so
	 * the intents an index record carries stay few. */
	if (w->npending > PENDING_LAZY_MAX)
		(void)pending_settle(pd, w);
	log_info("snapshot %s/%s deleted", w->ws_id, id);
	reply_done(&c->rc, w, id);
}
