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

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

static void make_auto_id(const struct workspace *w, const char *prefix, char *out, size_t outsz)
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
static int keep_as_snapshot(struct privd *pd, struct workspace *w, int bucket, const char *tmp,
			    const char *id, const char *message)
{
	char err[512];
	struct snapshot *s;
	int rc;

	/* A read-only subvolume cannot be moved (its ".." would change): move, then freeze.
	 * The bucket is root-only, so nobody can write to it in between. */
	rc = bt_set_readonly(pd->data_root_fd, tmp, false, err, sizeof(err));
	if (rc == 0 && renameat(pd->data_root_fd, tmp, bucket, id) < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "rename: %s", strerror(errno));
	}
	if (rc == 0)
		rc = bt_set_readonly(bucket, id, true, err, sizeof(err));
	if (rc < 0) {
		log_err("cannot keep %s as snapshot %s/%s: %s", tmp, w->ws_id, id, err);
		return rc;
	}
	s = ws_snapshot_add(w, id);
	if (!s)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &s->created_ts);
	rfc3339_format(&s->created_ts, s->created_at, sizeof(s->created_at));
	s->message = strdup(message);
	return index_save(pd, w);
}

static int clear_leftover_tmp(struct privd *pd, struct workspace *w, int bucket, const char *tmp)
{
	char id[SNAPSHOT_ID_MAX + 1];

	if (bt_is_subvol(pd->data_root_fd, tmp) != 1)
		return 0;
	/* We cannot tell which side of the exchange it is from: never delete, keep it. */
	make_auto_id(w, "auto-recovered", id, sizeof(id));
	log_warn("found leftover %s from an interrupted rollback; keeping it as snapshot %s", tmp, id);
	return keep_as_snapshot(pd, w, bucket, tmp, id, "auto: recovered from an interrupted rollback");
}

static struct snapshot *target_snapshot(const struct op_call *c, struct workspace *w)
{
	struct snapshot *s = ws_snapshot_find(w, c->req->snapshot);

	if (!s) {
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, "Use 'ws-ckpt list' to view available snapshots.",
			  "snapshot not found: %s", c->req->snapshot);
		return NULL;
	}
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
	if (clear_leftover_tmp(pd, w, bucket, tmp) < 0 ||
	    swap_in(pd, w, bucket, target, tmp, err, sizeof(err)) < 0) {
		close(bucket);
		reply_err(&c->rc, WSE_BTRFS, "Check the daemon log.", "rollback of %s to %s failed: %s",
			  w->ws_id, target, err[0] ? err : "cannot clear an interrupted rollback");
		return;
	}
	log_info("rollback %s to %s done", w->ws_id, target);
	if (c->req->flags & PSF_DISCARD_CURRENT) {
		if (bt_delete_subvol(pd->data_root_fd, tmp, err, sizeof(err)) < 0)
			log_err("cannot discard previous state of %s: %s", w->ws_id, err);
		close(bucket);
		reply_done(&c->rc, w, target, NULL);
		return;
	}
	make_auto_id(w, "auto", auto_id, sizeof(auto_id));
	{
		char msg[256];
		snprintf(msg, sizeof(msg), "auto: state before rollback to %s", target);
		rc = keep_as_snapshot(pd, w, bucket, tmp, auto_id, msg);
	}
	close(bucket);
	if (rc < 0) {
		reply_err(&c->rc, WSE_IO, "Check the daemon log.",
			  "rolled back %s to %s, but the previous state could not be recorded as a snapshot (kept at %s)",
			  w->ws_id, target, tmp);
		return;
	}
	reply_done(&c->rc, w, target, auto_id);
}
