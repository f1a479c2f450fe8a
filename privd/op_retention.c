/* Retention: pin/unpin, and cleanup that keeps the newest N unpinned snapshots. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "privd/ops.h"
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
 * no phantom or orphan. Returns how many were removed; ids are added to removed.
 */
int retention_apply(struct privd *pd, struct workspace *w, size_t keep, time_t older_than,
		    cJSON *removed)
{
	size_t unpinned = 0, excess = 0;
	char err[512];
	int n = 0;

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
		if (snapshot_delete(pd, w, s, err, sizeof(err)) < 0) {
			/* The record was restored at the end of the array, so i now names the
			 * next snapshot; excess still shrinks, so this terminates. */
			log_warn("cleanup: failed to delete snapshot %s/%s: %s", w->ws_id, id, err);
			continue;
		}
		if (removed)
			cJSON_AddItemToArray(removed, cJSON_CreateString(id));
		n++;
	}
	return n;
}

void op_cleanup(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	cJSON *r, *removed;
	int n;

	if (!w)
		return;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	removed = cJSON_AddArrayToObject(r, "removed");
	n = retention_apply(pd, w, c->req->number, 0, removed);
	log_info("cleanup of %s: removed %d snapshot(s)", w->ws_id, n);
	reply_ok(&c->rc, r);
}
