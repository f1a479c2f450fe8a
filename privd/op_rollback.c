/*
 * rollback: writable snapshot of the target at a temporary name, then one
 * renameat2(RENAME_EXCHANGE) with the live subvolume, so the workspace path always
 * resolves to a complete tree. The replaced state becomes a read-only snapshot.
 */
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
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/snapshot_keep.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

/* -n N: the head is one step back, its parent two, and so on. */
static struct snapshot *history_step(const struct op_call *c, struct workspace *w, uint32_t n)
{
	struct snapshot *s = w->head[0] ? ws_snapshot_find(w, w->head) : NULL;
	uint32_t have = s ? 1 : 0;

	while (s && have < n) {
		s = s->parent[0] ? ws_snapshot_find(w, s->parent) : NULL;
		have += s != NULL;
	}
	if (!s) {
		reply_err(&c->rc, WSE_INVALID_ARGUMENT, "Use 'ws-ckpt list' and roll back with -s instead.",
			  "cannot go back %u step(s): the history of %s has only %u", n, w->ws_id, have);
		return NULL;
	}
	return s;
}

static struct snapshot *target_snapshot(const struct op_call *c, struct workspace *w)
{
	struct snapshot *s = c->req->number ? history_step(c, w, c->req->number)
					    : snap_lookup(c, w, c->req->snapshot);

	if (!s)
		return NULL;
	if (s->missing) {
		char hint[PRIVSEP_HINT_MAX];
		snprintf(hint, sizeof(hint), "Remove the record with 'ws-ckpt delete -w %s -s %s --force'.",
			 w->ws_id, s->id);
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, hint,
			  "snapshot %s subvolume is missing (data lost); cannot roll back to it", s->id);
		return NULL;
	}
	return s;
}

static void reply_done(const struct req_ctx *rc, const struct workspace *w, const char *id,
		       const char *auto_id)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "snapshot", id);
	if (auto_id)
		cJSON_AddStringToObject(r, "auto_snapshot", auto_id);
	else
		cJSON_AddNullToObject(r, "auto_snapshot");
	reply_ok(rc, r);
}

static int swap_in(struct privd *pd, const struct workspace *w, int bucket, const char *snap_id,
		   const char *tmp, char *err, size_t errsz)
{
	int rc = bt_snapshot(bucket, snap_id, pd->data_root_fd, tmp, false, err, errsz);

	if (rc < 0)
		return rc;
	crash_point("rollback.tmp");
	if (renameat2(pd->data_root_fd, tmp, pd->data_root_fd, w->ws_id, RENAME_EXCHANGE) < 0) {
		rc = -errno;
		snprintf(err, errsz, "exchange with live subvolume: %s", strerror(errno));
		char derr[256];
		if (bt_delete_subvol(pd->data_root_fd, tmp, derr, sizeof(derr)) < 0)
			log_err("cannot remove %s: %s", tmp, derr);
		return rc;
	}
	if (fsync(pd->data_root_fd) < 0)
		log_warn("fsync of data root failed: %s", strerror(errno));
	crash_point("rollback.exchanged");
	return 0;
}

void op_rollback(struct privd *pd, const struct op_call *c)
{
	char tmp[64], err[512] = "", auto_id[SNAPSHOT_ID_MAX + 1], target[SNAPSHOT_ID_MAX + 1];
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	struct snapshot *s;
	int bucket, rc;

	if (!w || !(s = target_snapshot(c, w)))
		return;
	snprintf(target, sizeof(target), "%s", s->id); /* s may move when the index grows */
	bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot open snapshot bucket of %s: %s", w->ws_id,
			  strerror(-bucket));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.rollback-tmp", w->ws_id);
	if (rollback_tmp_recover(pd, w, bucket, tmp) < 0 ||
	    swap_in(pd, w, bucket, target, tmp, err, sizeof(err)) < 0) {
		close(bucket);
		reply_err(&c->rc, WSE_BTRFS, "Check the daemon log.", "rollback of %s to %s failed: %s",
			  w->ws_id, target, err[0] ? err : "cannot clear an interrupted rollback");
		return;
	}
	log_info("rollback %s to %s done", w->ws_id, target);
	/* The rollback target becomes the head: the next checkpoint branches from it. */
	snprintf(w->head, sizeof(w->head), "%s", target);
	if (c->req->flags & PSF_DISCARD_CURRENT) {
		if (bt_delete_subvol(pd->data_root_fd, tmp, err, sizeof(err)) < 0)
			log_err("cannot discard previous state of %s: %s", w->ws_id, err);
		close(bucket);
		if (index_save(pd, w) < 0)
			log_err("cannot record the new head of %s", w->ws_id);
		reply_done(&c->rc, w, target, NULL);
		return;
	}
	snapshot_auto_id(w, "auto", auto_id, sizeof(auto_id));
	{
		char msg[256];
		snprintf(msg, sizeof(msg), "auto: state before rollback to %s", target);
		rc = snapshot_keep_subvol(pd, w, bucket, tmp, auto_id, msg);
	}
	close(bucket);
	crash_point("rollback.recorded");
	if (rc < 0) {
		reply_err(&c->rc, WSE_IO, "Check the daemon log.",
			  "rolled back %s to %s, but the previous state could not be recorded as a snapshot (kept at %s)",
			  w->ws_id, target, tmp);
		return;
	}
	reply_done(&c->rc, w, target, auto_id);
}
