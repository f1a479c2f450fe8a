/* Workspace lookup by reference, with authorization folded in. */
#ifndef WSCKPT_WSRESOLVE_H
#define WSCKPT_WSRESOLVE_H

#include <stdbool.h>

#include "privd/ops.h"

/*
 * The workspace ref names (ws-id, registered path or <data_root>/<ws_id>) if the caller
 * may see it. Otherwise answers WorkspaceNotFound (never revealing another user's
 * workspace) and returns NULL. for_write also refuses a workspace another operation holds.
 */
struct workspace *ws_lookup(struct privd *pd, const struct op_call *c, const char *ref, bool for_write);
/* Snapshot by exact id or unique prefix; answers SnapshotNotFound / ambiguity itself. */
struct snapshot *snap_lookup(const struct op_call *c, struct workspace *w, const char *ref);
/* Same lookup without answering; NULL if absent or not visible. */
struct workspace *ws_find_visible(struct privd *pd, const struct peer *p, const char *ref);

#endif
