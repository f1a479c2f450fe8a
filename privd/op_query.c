/* Read-only operations: version, list, status. They show only what the caller may see. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/snapjson.h"
#include "privd/wsresolve.h"

void op_version(struct privd *pd, const struct op_call *c)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "daemon_version", WSCKPT_VERSION);
	cJSON_AddNumberToObject(r, "protocol", 1);
	reply_ok(&c->rc, r);
}

struct flat_entry {
	const struct workspace *w;
	const struct snapshot *s;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct flat_entry *x = a, *y = b;
	const struct timespec *tx = &x->s->created_ts, *ty = &y->s->created_ts;

	if (tx->tv_sec != ty->tv_sec)
		return tx->tv_sec < ty->tv_sec ? -1 : 1;
	if (tx->tv_nsec != ty->tv_nsec)
		return tx->tv_nsec < ty->tv_nsec ? -1 : 1;
	return strcmp(x->s->id, y->s->id);
}

/* Every snapshot the caller may see, oldest first across workspaces. */
static int list_all(struct privd *pd, const struct peer *p, struct jsonbuf *b)
{
	struct flat_entry *all = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < pd->reg.n; i++) {
		const struct workspace *w = pd->reg.ws[i];
		if (!peer_may_access(pd, p, w->owner_uid))
			continue;
		if (n + w->nsnaps > cap) {
			size_t ncap = (n + w->nsnaps) * 2;
			struct flat_entry *na = realloc(all, ncap * sizeof(*na));
			if (!na) {
				free(all);
				return -1;
			}
			all = na;
			cap = ncap;
		}
		for (size_t j = 0; j < w->nsnaps; j++)
			all[n++] = (struct flat_entry){ w, &w->snaps[j] };
	}
	if (n)
		qsort(all, n, sizeof(*all), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jb_raw(b, ",", 1);
		snapshot_entry_write(b, all[i].w, all[i].s);
	}
	free(all);
	return 0;
}

void op_list(struct privd *pd, const struct op_call *c)
{
	struct jsonbuf b;
	char *text;
	size_t len;
	int rc = 0;

	jb_init(&b);
	jb_lit(&b, "{\"snapshots\":[");
	if (c->req->flags & PSF_HAS_WORKSPACE) {
		const struct workspace *w = ws_lookup(pd, c, c->req->workspace, false);
		if (!w) {
			jb_free(&b);
			return;
		}
		for (size_t j = 0; j < w->nsnaps; j++) {
			if (j)
				jb_raw(&b, ",", 1);
			snapshot_entry_write(&b, w, &w->snaps[j]);
		}
	} else {
		rc = list_all(pd, c->peer, &b);
	}
	jb_lit(&b, "]}");
	text = rc == 0 ? jb_finish(&b, &len) : NULL;
	if (!text) {
		jb_free(&b);
		reply_err(&c->rc, WSE_INTERNAL, NULL, "out of memory listing snapshots");
		return;
	}
	reply_ok_text(&c->rc, text, len);
}

static cJSON *ws_status_json(const struct workspace *w)
{
	cJSON *j = cJSON_CreateObject();
	size_t missing = 0;

	for (size_t i = 0; i < w->nsnaps; i++)
		missing += w->snaps[i].missing;
	cJSON_AddStringToObject(j, "ws_id", w->ws_id);
	cJSON_AddStringToObject(j, "path", w->path);
	cJSON_AddNumberToObject(j, "owner_uid", (double)w->owner_uid);
	cJSON_AddNumberToObject(j, "snapshot_count", (double)w->nsnaps);
	cJSON_AddNumberToObject(j, "missing_count", (double)missing);
	cJSON_AddStringToObject(j, "state", ws_phase_name(w->phase));
	return j;
}

void op_status(struct privd *pd, const struct op_call *c)
{
	uint64_t total, used;
	cJSON *r, *arr;
	const struct workspace *only = NULL;

	if (c->req->flags & PSF_HAS_WORKSPACE) {
		only = ws_find_visible(pd, c->peer, c->req->workspace);
		if (!only) {
			reply_err(&c->rc, WSE_WORKSPACE_NOT_FOUND,
				  "Use 'ws-ckpt init' to initialize, or 'ws-ckpt list' to view workspaces.",
				  "workspace not found: %s", c->req->workspace);
			return;
		}
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "daemon_version", WSCKPT_VERSION);
	cJSON_AddNumberToObject(r, "uptime_secs", (double)((mono_ms() - pd->started_mono_ms) / 1000));
	cJSON_AddStringToObject(r, "backend", pd->be.backend_type);
	cJSON_AddStringToObject(r, "mount_path", pd->be.mount_path);
	if (pd->be.img_path[0])
		cJSON_AddStringToObject(r, "img_path", pd->be.img_path);
	else
		cJSON_AddNullToObject(r, "img_path");
	(void)fs_usage(pd->data_root_fd, &total, &used); /* 0 and 0 if unknown */
	cJSON_AddNumberToObject(r, "fs_total_bytes", (double)total);
	cJSON_AddNumberToObject(r, "fs_used_bytes", (double)used);
	arr = cJSON_AddArrayToObject(r, "workspaces");
	for (size_t i = 0; i < pd->reg.n; i++) {
		const struct workspace *w = pd->reg.ws[i];
		if ((only && w != only) || !peer_may_access(pd, c->peer, w->owner_uid))
			continue;
		cJSON_AddItemToArray(arr, ws_status_json(w));
	}
	reply_ok(&c->rc, r);
}
