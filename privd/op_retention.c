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
 * Victims: the oldest unpinned snapshots beyond the newest `keep`. Snapshots are in
 * creation order, so the first (unpinned - keep) unpinned ones go. Each delete is
 * individually durable (intent first), so a crash mid-batch leaves no phantom/orphan.
 */
void op_cleanup(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	size_t unpinned = 0, excess;
	cJSON *r, *removed;
	char err[512];

	if (!w)
		return;
	for (size_t i = 0; i < w->nsnaps; i++)
		unpinned += !w->snaps[i].pinned;
	excess = unpinned > c->req->number ? unpinned - c->req->number : 0;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	removed = cJSON_AddArrayToObject(r, "removed");
	for (size_t i = 0; excess > 0 && i < w->nsnaps;) {
		struct snapshot *s = &w->snaps[i];
		char id[SNAPSHOT_ID_MAX + 1];

		if (s->pinned) {
			i++;
			continue;
		}
		memcpy(id, s->id, sizeof(id));
		if (snapshot_delete(pd, w, s, err, sizeof(err)) < 0) {
			/* The record was restored at the end of the array, so i now names the
			 * next snapshot; excess still shrinks, so this terminates. */
			log_warn("cleanup: failed to delete snapshot %s/%s: %s", w->ws_id, id, err);
			excess--;
			continue;
		}
		cJSON_AddItemToArray(removed, cJSON_CreateString(id));
		excess--;
	}
	log_info("cleanup of %s: removed %d snapshot(s)", w->ws_id, cJSON_GetArraySize(removed));
	reply_ok(&c->rc, r);
}
