/* Resolve workspace references from the registry only: no filesystem lookups as root. */
#include "privd/wsresolve.h"

#include <stdio.h>
#include <string.h>

#include "common/validate.h"
#include "privd/wslink.h"

static struct workspace *find(struct privd *pd, const char *ref)
{
	size_t dl = strlen(pd->be.data_root);

	if (ws_id_valid(ref))
		return registry_by_id(&pd->reg, ref);
	/* The live subvolume's own path (what a shell inside the workspace reports). */
	if (strncmp(ref, pd->be.data_root, dl) == 0 && ref[dl] == '/' && ws_id_valid(ref + dl + 1))
		return registry_by_id(&pd->reg, ref + dl + 1);
	return registry_by_path(&pd->reg, ref);
}

struct workspace *ws_find_visible(struct privd *pd, const struct peer *p, const char *ref)
{
	struct workspace *w = find(pd, ref);

	if (!w || !peer_may_access(pd, p, w->owner_uid))
		return NULL;
	return w;
}

struct workspace *ws_lookup(struct privd *pd, const struct op_call *c, const char *ref, bool for_write)
{
	struct workspace *w = ws_find_visible(pd, c->peer, ref);

	if (!w) {
		reply_err(&c->rc, WSE_WORKSPACE_NOT_FOUND,
			  "Use 'ws-ckpt init' to initialize, or 'ws-ckpt list' to view workspaces.",
			  "workspace not found: %s", ref);
		return NULL;
	}
	if (w->phase == WS_READY && ws_link_check(pd, w) == WSL_REPLACED) {
		reply_err(&c->rc, WSE_INVALID_PATH,
			  "Move what is at that path away (it is not managed by ws-ckpt) and restart the daemon to restore the link; the workspace data is intact.",
			  "workspace path %s is no longer the ws-ckpt symlink (something else was put there); refusing to act on %s",
			  w->path, w->ws_id);
		return NULL;
	}
	if (w->phase != WS_READY || (for_write && w->busy)) {
		reply_err(&c->rc, WSE_WRITE_LOCK_CONFLICT, "Retry when the running operation has finished.",
			  "workspace %s is busy (%s in progress)", w->ws_id,
			  w->phase != WS_READY ? ws_phase_name(w->phase) : "another operation");
		return NULL;
	}
	return w;
}

static void list_candidates(const struct workspace *w, const char *ref, char *out, size_t sz)
{
	size_t len = strlen(ref), o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < w->nsnaps && o + 1 < sz; i++) {
		int n;
		if (strncmp(w->snaps[i].id, ref, len) != 0)
			continue;
		n = snprintf(out + o, sz - o, "%s%s", o ? ", " : "", w->snaps[i].id);
		if (n < 0 || (size_t)n >= sz - o)
			break;
		o += (size_t)n;
	}
}

struct snapshot *snap_lookup(const struct op_call *c, struct workspace *w, const char *ref)
{
	size_t matches;
	struct snapshot *s = ws_snapshot_resolve(w, ref, &matches);
	char cands[PRIVSEP_ERRMSG_MAX / 2];

	if (s)
		return s;
	if (matches == 0) {
		reply_err(&c->rc, WSE_SNAPSHOT_NOT_FOUND, "Use 'ws-ckpt list' to view available snapshots.",
			  "snapshot not found: %s", ref);
		return NULL;
	}
	list_candidates(w, ref, cands, sizeof(cands));
	reply_err(&c->rc, WSE_INVALID_ARGUMENT, "Give more of the id, or the full id.",
		  "ambiguous snapshot prefix '%s': %zu matches: %s", ref, matches, cands);
	return NULL;
}
