/*
 * rollback: writable snapshot of the target at a temporary name, then one
 * renameat2(RENAME_EXCHANGE) with the live subvolume, so the workspace path always
 * resolves to a complete tree. The replaced state is kept as a read-only snapshot of it
 * (snapshot_keep.c), or discarded on request; a discarding rollback answers once its
 * intent is journaled (rollback_finish.c settles it after a crash).
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
#include "privd/index_journal.h"
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

/*
 * How a discarding rollback is made durable without a btrfs commit of its own (the
 * snapshot's commit comes before the exchange): by its intent record in the index. The
 * record is written before the snapshot, and its fdatasync runs while btrfs commits
 * (INTENT_SAVING) or, when the save cannot be split (index_save_begin), before
 * (INTENT_SAVED). It names the subvolume that is the workspace now, which the copy of
 * the target, made after it and so with a larger id, replaces, and it keeps the head as
 * it is: after a crash rollback_finish.c tells from the ids whether the exchange is on
 * disk, redoes it if not, and only then moves the head. INTENT_NONE: the ids cannot be
 * read or the record cannot be written, and the exchange is committed instead.
 */
enum intent_how { INTENT_NONE, INTENT_SAVING, INTENT_SAVED };

static enum intent_how intent_begin(struct privd *pd, struct workspace *w, const char *target,
				    struct index_save_async *save)
{
	struct rollback_intent prev = w->rb;
	unsigned long long live;

	if (bt_subvol_id(pd->data_root_fd, w->ws_id, &live) != 1)
		return INTENT_NONE;
	memset(&w->rb, 0, sizeof(w->rb));
	w->rb.active = true;
	w->rb.live_subvol = live;
	snprintf(w->rb.target, sizeof(w->rb.target), "%s", target);
	if (index_save_begin(pd, w, save) == 0)
		return INTENT_SAVING;
	if (index_save(pd, w) == 0)
		return INTENT_SAVED;
	w->rb = prev; /* what the index still says */
	return INTENT_NONE;
}

/* The rollback failed after intent_begin: put back the intent it replaced (its own was
 * not carried out) and, if the record may be on disk, overwrite it, so that a start never
 * finishes a rollback its caller was told failed. */
static void intent_abandon(struct privd *pd, struct workspace *w, enum intent_how how,
			   struct index_save_async *save, const struct rollback_intent *prev)
{
	if (how == INTENT_SAVING)
		(void)index_save_end(pd, w, save);
	w->rb = *prev;
	if (how != INTENT_NONE && index_save(pd, w) < 0 && bt_commit(pd->data_root_fd, false) < 0)
		log_err("rollback of %s failed and its intent may still be in the index", w->ws_id);
}

/* The index write that acknowledges the rollback failed: fall back to a btrfs commit.
 * 0, or -errno when the rollback is durable neither way. */
static int intent_not_recorded(struct privd *pd, struct workspace *w)
{
	int rc;

	if (!w->rb.active)
		return 0;
	w->rb.active = false;
	rc = bt_commit(pd->data_root_fd, false);
	if (rc < 0)
		log_err("rollback of %s is neither recorded nor committed: %s", w->ws_id, strerror(-rc));
	else
		(void)index_save(pd, w); /* the new head: the last record may have an older one */
	return rc;
}

/* The exchange is done: make it durable as intent_begin chose. 0 or -errno. */
static int intent_end(struct privd *pd, struct workspace *w, enum intent_how how,
		      struct index_save_async *save)
{
	if (how == INTENT_NONE) {
		int rc;

		memset(&w->rb, 0, sizeof(w->rb)); /* the snapshot committed any older one */
		rc = bt_commit(pd->data_root_fd, false);
		if (rc == 0)
			(void)index_save(pd, w); /* the head; the commit made the rollback durable */
		return rc;
	}
	if (how == INTENT_SAVED || index_save_end(pd, w, save) == 0)
		return 0;
	log_err("cannot record the rollback of %s", w->ws_id);
	return intent_not_recorded(pd, w);
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
	/* Now tmp holds the replaced state and the workspace the copy of the target. */
	crash_point("rollback.exchanged");
	return 0;
}

/* The replaced state could not be kept as a snapshot (kept_as NULL: it is still at tmp,
 * for the next rollback or start to keep), or it was but the index could not be written
 * (the next start adopts it). Either way the exchange and the head are made durable. */
static void keep_failed(struct privd *pd, const struct op_call *c, struct workspace *w,
			const char *target, const char *kept_as, const char *tmp)
{
	int rc = bt_commit(pd->data_root_fd, false);

	if (rc < 0)
		log_err("rollback of %s is not committed: %s", w->ws_id, strerror(-rc));
	if (kept_as) {
		reply_err(&c->rc, WSE_IO, "Check the daemon log.",
			  "rolled back %s to %s; the previous state is kept as snapshot %s, but the index could not be written (the next start lists it)",
			  w->ws_id, target, kept_as);
		return;
	}
	(void)index_save(pd, w);
	reply_err(&c->rc, WSE_IO, "Check the daemon log.",
		  "rolled back %s to %s, but the previous state could not be kept as a snapshot: it is at %s until the next rollback or start keeps it",
		  w->ws_id, target, tmp);
}

/* 0, or -errno when the rollback could not be made durable. */
static int discard_replaced(struct privd *pd, struct workspace *w, const char *tmp,
			    const char *target, enum intent_how how, struct index_save_async *save)
{
	char err[512];
	int rc = intent_end(pd, w, how, save);

	crash_point("rollback.intent");
	if (bt_delete_subvol(pd->data_root_fd, tmp, err, sizeof(err)) < 0)
		log_err("cannot discard previous state of %s: %s", w->ws_id, err);
	if (rc == 0)
		log_info("rollback %s to %s done (previous state discarded)", w->ws_id, target);
	return rc;
}

void op_rollback(struct privd *pd, const struct op_call *c)
{
	char tmp[64], err[512] = "", auto_id[SNAPSHOT_ID_MAX + 1], target[SNAPSHOT_ID_MAX + 1];
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	bool discard = c->req->flags & PSF_DISCARD_CURRENT;
	enum intent_how how = INTENT_NONE;
	struct index_save_async save;
	struct rollback_intent prev;
	struct snapshot *s;
	int bucket;

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
	if (rollback_tmp_recover(pd, w, bucket, tmp) < 0) {
		close(bucket);
		reply_err(&c->rc, WSE_BTRFS, "Check the daemon log.", "rollback of %s to %s failed: %s",
			  w->ws_id, target, "cannot clear an interrupted rollback");
		return;
	}
	prev = w->rb;
	if (discard) {
		how = intent_begin(pd, w, target, &save);
		crash_point("rollback.begun");
	}
	if (swap_in(pd, w, bucket, target, tmp, err, sizeof(err)) < 0) {
		if (discard)
			intent_abandon(pd, w, how, &save, &prev);
		close(bucket);
		reply_err(&c->rc, WSE_BTRFS, "Check the daemon log.", "rollback of %s to %s failed: %s",
			  w->ws_id, target, err);
		return;
	}
	/* The rollback target becomes the head: the next checkpoint branches from it. Its
	 * snapshot ioctl committed everything before it, so an older intent is settled. */
	snprintf(w->head, sizeof(w->head), "%s", target);
	w->rb.head_moved = true; /* for the records after this one's */
	if (discard) {
		close(bucket);
		if (discard_replaced(pd, w, tmp, target, how, &save) < 0) {
			reply_err(&c->rc, WSE_BTRFS, "Check the daemon log.",
				  "rolled back %s to %s, but it could not be made durable: after a crash the workspace may show its previous state",
				  w->ws_id, target);
			return;
		}
		reply_done(&c->rc, w, target, NULL);
		return;
	}
	snapshot_auto_id(w, "auto", auto_id, sizeof(auto_id));
	/* No intent: keeping the replaced state snapshots it, and that commit makes the
	 * exchange durable before the index says anything. */
	memset(&w->rb, 0, sizeof(w->rb));
	{
		char msg[256];
		bool kept;
		int rc;

		snprintf(msg, sizeof(msg), "auto: state before rollback to %s", target);
		rc = snapshot_keep_subvol(pd, w, bucket, tmp, auto_id, sizeof(auto_id), msg, &kept);
		close(bucket);
		crash_point("rollback.recorded");
		if (rc < 0) {
			keep_failed(pd, c, w, target, kept ? auto_id : NULL, tmp);
			return;
		}
	}
	log_info("rollback %s to %s done", w->ws_id, target);
	reply_done(&c->rc, w, target, auto_id);
}
