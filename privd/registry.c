/* Registry bookkeeping: arrays with linear lookup (hundreds of workspaces, not millions). */
#include "privd/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void workspace_free(struct workspace *w)
{
	for (size_t i = 0; i < w->nsnaps; i++)
		snapshot_clear(&w->snaps[i]);
	free(w->snaps);
	free(w->pending);
	free(w->removed);
	free(w);
}

void registry_free(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		workspace_free(r->ws[i]);
	free(r->ws);
	memset(r, 0, sizeof(*r));
}

struct workspace *registry_add(struct registry *r, const char *ws_id, const char *path)
{
	struct workspace *w;

	if (strlen(ws_id) > WS_ID_LEN || strlen(path) >= WS_PATH_MAX)
		return NULL;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct workspace **nw = realloc(r->ws, ncap * sizeof(*nw));
		if (!nw)
			return NULL;
		r->ws = nw;
		r->cap = ncap;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	strcpy(w->ws_id, ws_id);
	strcpy(w->path, path);
	strcpy(w->origin_backend, "BtrfsLoop");
	r->ws[r->n++] = w;
	return w;
}

void registry_remove(struct registry *r, struct workspace *w)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->ws[i] == w) {
			memmove(r->ws + i, r->ws + i + 1, (r->n - i - 1) * sizeof(*r->ws));
			r->n--;
			workspace_free(w);
			return;
		}
	}
}

struct workspace *registry_by_id(const struct registry *r, const char *ws_id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->ws[i]->ws_id, ws_id) == 0)
			return r->ws[i];
	}
	return NULL;
}

struct workspace *registry_by_path(const struct registry *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->ws[i]->path, path) == 0)
			return r->ws[i];
	}
	return NULL;
}

struct snapshot *ws_snapshot_add(struct workspace *w, const char *id)
{
	struct snapshot *s;

	if (strlen(id) > SNAPSHOT_ID_MAX)
		return NULL;
	if (w->nsnaps == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 16;
		struct snapshot *ns = realloc(w->snaps, ncap * sizeof(*ns));
		if (!ns)
			return NULL;
		w->snaps = ns;
		w->cap = ncap;
	}
	s = &w->snaps[w->nsnaps++];
	memset(s, 0, sizeof(*s));
	strcpy(s->id, id);
	s->dirty = true;
	return s;
}

struct snapshot *ws_snapshot_find(const struct workspace *w, const char *id)
{
	for (size_t i = 0; i < w->nsnaps; i++) {
		if (strcmp(w->snaps[i].id, id) == 0)
			return &w->snaps[i];
	}
	return NULL;
}

void snapshot_clear(struct snapshot *s)
{
	free(s->message);
	free(s->metadata);
	s->message = s->metadata = NULL;
}

/* The journal must learn of every removal; without memory for the id, the next save
 * writes the whole index instead. */
static void removed_record(struct workspace *w, const char *id)
{
	char (*nr)[SNAPSHOT_ID_MAX + 1];

	for (size_t i = 0; i < w->nremoved; i++) {
		if (strcmp(w->removed[i], id) == 0)
			return;
	}
	nr = realloc(w->removed, (w->nremoved + 1) * sizeof(*nr));
	if (!nr) {
		w->journal_broken = true;
		return;
	}
	w->removed = nr;
	snprintf(w->removed[w->nremoved++], sizeof(*nr), "%s", id);
}

void ws_snapshot_touch(struct snapshot *s)
{
	s->dirty = true;
}

void ws_changes_clear(struct workspace *w)
{
	for (size_t i = 0; i < w->nsnaps; i++)
		w->snaps[i].dirty = false;
	free(w->removed);
	w->removed = NULL;
	w->nremoved = 0;
}

void ws_snapshot_remove(struct workspace *w, struct snapshot *s)
{
	size_t i;

	if (!s)
		return;
	i = (size_t)(s - w->snaps);
	if (i >= w->nsnaps)
		return;
	removed_record(w, s->id);
	snapshot_clear(s);
	memmove(w->snaps + i, w->snaps + i + 1, (w->nsnaps - i - 1) * sizeof(*s));
	w->nsnaps--;
}

int ws_pending_add(struct workspace *w, const char *id)
{
	char (*np)[SNAPSHOT_ID_MAX + 1];

	if (strlen(id) > SNAPSHOT_ID_MAX)
		return -1;
	np = realloc(w->pending, (w->npending + 1) * sizeof(*np));
	if (!np)
		return -1;
	w->pending = np;
	strcpy(w->pending[w->npending++], id);
	return 0;
}

void ws_pending_remove(struct workspace *w, const char *id)
{
	for (size_t i = 0; i < w->npending; i++) {
		if (strcmp(w->pending[i], id) == 0) {
			memmove(w->pending + i, w->pending + i + 1, (w->npending - i - 1) * sizeof(*w->pending));
			w->npending--;
			return;
		}
	}
}

static int cmp_created(const void *a, const void *b)
{
	const struct snapshot *x = a, *y = b;

	if (x->created_ts.tv_sec != y->created_ts.tv_sec)
		return x->created_ts.tv_sec < y->created_ts.tv_sec ? -1 : 1;
	if (x->created_ts.tv_nsec != y->created_ts.tv_nsec)
		return x->created_ts.tv_nsec < y->created_ts.tv_nsec ? -1 : 1;
	return strcmp(x->id, y->id);
}

void ws_sort_snapshots(struct workspace *w)
{
	if (w->nsnaps > 1)
		qsort(w->snaps, w->nsnaps, sizeof(*w->snaps), cmp_created);
}

struct snapshot *ws_snapshot_resolve(const struct workspace *w, const char *ref, size_t *matches)
{
	struct snapshot *found = ws_snapshot_find(w, ref);
	size_t len = strlen(ref), n = 0;

	if (found) {
		*matches = 1;
		return found;
	}
	for (size_t i = 0; i < w->nsnaps; i++) {
		if (strncmp(w->snaps[i].id, ref, len) == 0) {
			found = &w->snaps[i];
			n++;
		}
	}
	*matches = n;
	return n == 1 ? found : NULL;
}

const char *ws_phase_name(enum ws_phase p)
{
	switch (p) {
	case WS_INITIALIZING:
		return "initializing";
	case WS_RECOVERING:
		return "recovering";
	default:
		return "ready";
	}
}

enum ws_phase ws_phase_parse(const char *s)
{
	if (strcmp(s, "initializing") == 0)
		return WS_INITIALIZING;
	if (strcmp(s, "recovering") == 0)
		return WS_RECOVERING;
	return WS_READY;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct snapshot *)a)->id, ((const struct snapshot *)b)->id);
}

bool ws_has_duplicate_ids(struct workspace *w)
{
	if (w->nsnaps < 2)
		return false;
	qsort(w->snaps, w->nsnaps, sizeof(*w->snaps), cmp_id);
	for (size_t i = 1; i < w->nsnaps; i++) {
		if (strcmp(w->snaps[i - 1].id, w->snaps[i].id) == 0)
			return true;
	}
	return false;
}
