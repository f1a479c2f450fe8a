/* delete: one snapshot, confirmed by the caller; the subvolume goes first, then the record. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

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

void op_delete(struct privd *pd, const struct op_call *c)
{
	struct workspace *w;
	struct snapshot *s;
	char err[512];
	int bucket, rc;

	w = (c->req->flags & PSF_HAS_WORKSPACE) ? ws_lookup(pd, c, c->req->workspace, true)
						: find_owner_ws(pd, c);
	if (!w)
		return;
	s = ws_snapshot_find(w, c->req->snapshot);
	if (!s) {
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, "Use 'ws-ckpt list' to view available snapshots.",
			  "snapshot not found: %s", c->req->snapshot);
		return;
	}
	if (!(c->req->flags & PSF_FORCE)) {
		reply_err(&c->rc, WSE_CONFIRMATION_REQUIRED, NULL,
			  "Delete snapshot '%s' of workspace %s (%s)? This cannot be undone.", s->id,
			  w->path, w->ws_id);
		return;
	}
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	rc = bucket < 0 ? bucket : bt_delete_subvol(bucket, s->id, err, sizeof(err));
	if (bucket >= 0)
		close(bucket);
	if (rc < 0 && rc != -ENOENT) {
		reply_err(&c->rc, WSE_BTRFS, NULL, "cannot delete snapshot %s: %s", s->id,
			  bucket < 0 ? strerror(-bucket) : err);
		return;
	}
	if (rc == -ENOENT && !s->missing)
		log_warn("snapshot %s/%s had no subvolume; removing the record", w->ws_id, s->id);
	ws_snapshot_remove(w, s);
	rc = index_save(pd, w);
	if (rc < 0) {
		reply_err(&c->rc, WSE_IO, "The next daemon start reconciles the index.",
			  "snapshot %s deleted but the index could not be written: %s", c->req->snapshot,
			  strerror(-rc));
		return;
	}
	log_info("snapshot %s/%s deleted", w->ws_id, c->req->snapshot);
	reply_done(&c->rc, w, c->req->snapshot);
}
