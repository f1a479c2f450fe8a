/* The storage advisory a successful answer carries when the client asks for it. */
#ifndef WSCKPT_PRIVD_ADVISORY_H
#define WSCKPT_PRIVD_ADVISORY_H

#include <stdint.h>

#include "common/advisory_limits.h"
#include "privd/privd.h"
#include "proto/privsep.h"

/* Fill e's adv_* fields for the client of `session`, counting only the workspaces it may
 * see; leaves e untouched when that session is gone. */
void advisory_fill(const struct privd *pd, uint32_t session, struct ps_reply_end *e);

#endif
