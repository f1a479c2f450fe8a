/*
 * diff (and rollback --preview): a root worker runs BTRFS_IOC_SEND with NO_FILE_DATA
 * into a pipe whose read end goes straight to frontd, which parses it unprivileged.
 * privd never holds the stream, so a 100k-file diff costs it nothing and blocks no one.
 * The live workspace is diffed through a temporary read-only snapshot that is recorded
 * as a delete intent before it exists, so it is removed even after a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/btrfs_send.h"
#include "privd/bucket.h"
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/state_store.h"
#include "privd/worker.h"
#include "privd/wsresolve.h"

struct diff_job {
	struct req_ctx rc;
	char ws_id[WS_ID_LEN + 1];
	char tmp[SNAPSHOT_ID_MAX + 1]; /* temporary live snapshot, or "" */
	int from_fd, to_fd, out_fd;
};

static unsigned diff_seq;

static void job_free(struct diff_job *j)
{
	if (j->from_fd >= 0)
		close(j->from_fd);
	if (j->to_fd >= 0)
		close(j->to_fd);
	if (j->out_fd >= 0)
		close(j->out_fd);
	free(j);
}

static int send_worker(void *arg, char *msg, size_t msgsz)
{
	struct diff_job *j = arg;

	return bt_send_no_data(j->from_fd, j->to_fd, j->out_fd, msg, msgsz);
}

static void drop_tmp(struct privd *pd, const char *ws_id, const char *tmp)
{
	struct workspace *w = registry_by_id(&pd->reg, ws_id);
	char err[512];
	int bucket;

	if (!tmp[0])
		return;
	bucket = open_beneath(pd->snapshots_fd, ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket >= 0) {
		if (bt_delete_subvol(bucket, tmp, err, sizeof(err)) < 0 && errno != ENOENT)
			log_err("cannot remove diff snapshot %s/%s: %s", ws_id, tmp, err);
		close(bucket);
	}
	if (w)
		(void)pending_settle(pd, w);
}

static void diff_done(struct privd *pd, void *arg, int rc, const char *msg)
{
	struct diff_job *j = arg;

	drop_tmp(pd, j->ws_id, j->tmp);
	if (rc < 0)
		reply_err(&j->rc, WSE_BTRFS, NULL, "diff failed: %s", msg);
	else
		reply_stream_end(&j->rc);
	job_free(j);
}

/* Temporary read-only snapshot of the live subvolume; the intent is saved first. */
static int snapshot_live(struct privd *pd, struct workspace *w, int bucket, char *name, size_t sz,
			 char *err, size_t errsz)
{
	int rc;

	snprintf(name, sz, ".diff-%u-%u", (unsigned)getpid(), ++diff_seq);
	if (ws_pending_add(w, name) < 0 || index_save(pd, w) < 0) {
		ws_pending_remove(w, name);
		snprintf(err, errsz, "cannot record the temporary snapshot");
		return -EIO;
	}
	rc = bt_snapshot(pd->data_root_fd, w->ws_id, bucket, name, true, err, errsz);
	if (rc < 0) {
		ws_pending_remove(w, name);
		index_save(pd, w);
	}
	return rc;
}

static int open_side(const struct op_call *c, struct workspace *w, int bucket, const char *ref,
		     int *fd)
{
	struct snapshot *s = snap_lookup(c, w, ref);

	if (!s)
		return -1;
	if (s->missing) {
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, NULL,
			  "snapshot %s subvolume is missing (data lost)", s->id);
		return -1;
	}
	*fd = open_beneath(bucket, s->id, O_RDONLY | O_DIRECTORY);
	if (*fd < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot open snapshot %s: %s", s->id, strerror(-*fd));
		return -1;
	}
	return 0;
}

/* from: a snapshot, or the live workspace with PSF_FROM_LIVE; to: snapshot2, or live. */
static int open_sides(struct privd *pd, const struct op_call *c, struct workspace *w, int bucket,
		      struct diff_job *j)
{
	bool from_live = c->req->flags & PSF_FROM_LIVE;
	char err[512];
	int *live_fd = from_live ? &j->from_fd : &j->to_fd;

	if (!from_live && open_side(c, w, bucket, c->req->snapshot, &j->from_fd) < 0)
		return -1;
	if (c->req->snapshot2[0] && open_side(c, w, bucket, c->req->snapshot2, &j->to_fd) < 0)
		return -1;
	if (*live_fd >= 0)
		return 0;
	if (snapshot_live(pd, w, bucket, j->tmp, sizeof(j->tmp), err, sizeof(err)) < 0) {
		reply_err(&c->rc, WSE_BTRFS, NULL, "cannot snapshot the live workspace: %s", err);
		j->tmp[0] = '\0';
		return -1;
	}
	*live_fd = open_beneath(bucket, j->tmp, O_RDONLY | O_DIRECTORY);
	if (*live_fd < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot open temporary snapshot: %s", strerror(-*live_fd));
		return -1;
	}
	return 0;
}

static int start_worker(struct privd *pd, const struct op_call *c, struct diff_job *j)
{
	int p[2], keep[3], rc;

	if (pipe2(p, O_CLOEXEC) < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "pipe: %s", strerror(errno));
		return -1;
	}
	j->out_fd = p[1];
	keep[0] = j->from_fd;
	keep[1] = j->to_fd;
	keep[2] = j->out_fd;
	rc = worker_spawn(pd, WORKER_KEEP_PRIVS, 0, keep, 3, send_worker, j, diff_done, j);
	if (rc < 0) {
		close(p[0]);
		reply_err(&c->rc, WSE_INTERNAL, NULL, "cannot start the diff worker: %s", strerror(-rc));
		return -1;
	}
	/* Only the worker may keep the write end, or frontd would never see EOF. */
	close(j->out_fd);
	j->out_fd = -1;
	reply_stream(&c->rc, p[0]);
	close(p[0]);
	return 0;
}

void op_diff(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, false);
	struct diff_job *j;
	int bucket;

	if (!w)
		return;
	j = calloc(1, sizeof(*j));
	if (!j) {
		reply_err(&c->rc, WSE_INTERNAL, NULL, "out of memory");
		return;
	}
	j->rc = c->rc;
	j->from_fd = j->to_fd = j->out_fd = -1;
	snprintf(j->ws_id, sizeof(j->ws_id), "%s", w->ws_id);
	bucket = bucket_open(pd, w);
	if (bucket < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot open snapshot bucket: %s", strerror(-bucket));
		free(j);
		return;
	}
	if (open_sides(pd, c, w, bucket, j) < 0 || start_worker(pd, c, j) < 0) {
		close(bucket);
		drop_tmp(pd, j->ws_id, j->tmp);
		job_free(j);
		return;
	}
	close(bucket);
}
