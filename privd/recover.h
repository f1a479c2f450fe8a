/* recover (un-manage) shared with reconcile. */
#ifndef WSCKPT_RECOVER_H
#define WSCKPT_RECOVER_H

#include "privd/privd.h"

/* Name of the copy next to the workspace path while recover runs (from the ws-id). */
#define RECOVER_TMP_FMT ".%s.ws-ckpt-recover"

#include <stdbool.h>

/* True when the old symlink sits at the temporary name: the swap happened. */
bool recover_swapped(const struct privd *pd, const struct workspace *w);
/* After the swap: delete snapshots, live subvolume, index and registry entry. */
void recover_finish(struct privd *pd, struct workspace *w);

#endif
