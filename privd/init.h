/* init: turn a user's directory into a managed workspace (also used by checkpoint). */
#ifndef WSCKPT_INIT_H
#define WSCKPT_INIT_H

#include <stdbool.h>

#include "privd/ops.h"

/* Start init of c->req->workspace; then_checkpoint: continue with the checkpoint request. */
void init_start(struct privd *pd, const struct op_call *c, bool then_checkpoint);

/* Names next to the workspace path used during the swap (derived from the ws-id). */
#define INIT_LINK_FMT ".%s.ws-ckpt-swap"

#endif
