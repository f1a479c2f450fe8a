/*
 * Retention: pin/unpin, and cleanup that keeps the newest N unpinned snapshots. A
 * cleanup that removed something answers only once the btrfs cleaner has freed the
 * space (or a bound expired: privd/reclaim.c), so a full backend is writable again
 * when the reply arrives.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "privd/ops.h"
#include "privd/reclaim.h"
#include "privd/state_store.h"
#include "privd/wsresolve.h"

void op_pin(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	struct snapshot *s;
	bool pin = c->req->flags & PSF_PIN, was;
	cJSON *r;
	int rc;

	if (!w || !(s = snap_lookup(c, w, c->req->snapshot)))
		return;
	was = s->pinned;
	s->pinned = pin;
	ws_snapshot_touch(s);
	rc = was == pin ? 0 : index_save(pd, w);
	if (rc < 0) {
		s->pinned = was;
		reply_err(&c->rc, WSE_IO, NULL, "cannot write the index: %s", strerror(-rc));
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "snapshot", s->id);
	cJSON_AddBoolToObject(r, "pinned", pin);
	reply_ok(&c->rc, r);
}

/*
 * Victims: unpinned snapshots beyond the newest `keep` (count mode), or unpinned ones
 * created before `older_than` (age mode, when older_than > 0). Snapshots are in creation
 * order. Each delete is individually durable (intent first), so a crash mid-batch leaves
 * no phantom or orphan. Returns how many were removed; ids are added to removed, and
 * the btrfs subvolume ids of the removed snapshots to rs (both optional).
 */
int retention_apply(struct privd *pd, struct workspace *w, size_t keep, time_t older_than,
		    cJSON *removed, struct reclaim_set *rs)
{
	size_t unpinned = 0, excess = 0;
	char err[512];
	int n = 0, noted;

	for (size_t i = 0; i < w->nsnaps; i++) {
		if (w->snaps[i].pinned)
			continue;
		unpinned++;
		if (older_than > 0 && w->snaps[i].created_ts.tv_sec < older_than)
			excess++;
	}
	if (older_than <= 0)
		excess = unpinned > keep ? unpinned - keep : 0;
	for (size_t i = 0; excess > 0 && i < w->nsnaps;) {
		struct snapshot *s = &w->snaps[i];
		char id[SNAPSHOT_ID_MAX + 1];

		if (s->pinned || (older_than > 0 && s->created_ts.tv_sec >= older_than)) {
			i++;
			continue;
		}
		memcpy(id, s->id, sizeof(id));
		excess--;
		/* The id must be read while the subvolume still has a name. */
		noted = rs ? reclaim_note(pd, rs, w->ws_id, id) : 0;
		if (noted < 0)
			log_warn("cleanup: cannot read the subvolume id of %s/%s (%s); its space is not waited for",
				 w->ws_id, id, strerror(-noted));
		if (snapshot_delete(pd, w, s, err, sizeof(err)) < 0) {
			if (noted > 0)
				reclaim_unnote(rs);
			/* The record was restored at the end of the array, so i now names the
			 * next snapshot; excess still shrinks, so this terminates. */
			log_warn("cleanup: failed to delete snapshot %s/%s: %s", w->ws_id, id, err);
			continue;
		}
		if (removed)
			cJSON_AddItemToArray(removed, cJSON_CreateString(id));
		n++;
	}
	if (n > 0)
		(void)pending_settle(pd, w); /* one commit for the batch */
	return n;
}

/* A cleanup waiting for the cleaner. */
struct cleanup_wait {
	struct req_ctx rc;
	cJSON *result; /* the reply, completed with "space" */
};

static void cleanup_reply(const struct req_ctx *rc, cJSON *r, const struct reclaim_result *res)
{
	cJSON *space = reclaim_json(res);

	if (!space) {
		cJSON_Delete(r);
		reply_err(rc, WSE_INTERNAL, NULL, "out of memory");
		return;
	}
	cJSON_AddItemToObject(r, "space", space);
	reply_ok(rc, r);
}

static void cleanup_reclaimed(struct privd *pd, void *arg, const struct reclaim_result *res)
{
	struct cleanup_wait *cw = arg;

	(void)pd;
	cleanup_reply(&cw->rc, cw->result, res);
	free(cw);
}

/* Answer when the cleaner has freed the space. The workspace is not held busy: the
 * wait only watches subvolume ids that no longer have a name, so checkpoints and other
 * writes to it (from other clients) go on meanwhile. */
static void cleanup_wait_start(struct privd *pd, const struct op_call *c, struct workspace *w,
			       cJSON *r, struct reclaim_set *rs)
{
	struct cleanup_wait *cw = calloc(1, sizeof(*cw));
	struct reclaim_result now;
	int rc;

	if (!cw) {
		reclaim_skip(pd, rs, &now);
		cleanup_reply(&c->rc, r, &now);
		return;
	}
	cw->rc = c->rc;
	cw->result = r;
	rc = reclaim_start(pd, rs, cleanup_reclaimed, cw, &now);
	if (rc < 0) {
		log_warn("cleanup of %s: cannot start the reclaim worker (%s); answering without waiting for the cleaner",
			 w->ws_id, strerror(-rc));
		cleanup_reply(&c->rc, r, &now);
		free(cw);
	}
}

void op_cleanup(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	struct reclaim_result none = { 0, true, 0, 0 };
	struct reclaim_set rs;
	cJSON *r, *removed;
	int n;

	if (!w)
		return;
	reclaim_set_init(pd, &rs);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	removed = cJSON_AddArrayToObject(r, "removed");
	n = retention_apply(pd, w, c->req->number, 0, removed, &rs);
	log_info("cleanup of %s: removed %d snapshot(s)", w->ws_id, n);
	if (n == 0) {
		reclaim_set_free(&rs);
		cleanup_reply(&c->rc, r, &none);
		return;
	}
	cleanup_wait_start(pd, c, w, r, &rs);
}
