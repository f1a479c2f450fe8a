/* The storage advisory a successful answer carries when the client asks for it. */
#ifndef WSCKPT_PRIVD_ADVISORY_H
#define WSCKPT_PRIVD_ADVISORY_H

#include <stdint.h>

#include "privd/privd.h"
#include "proto/privsep.h"

/* A workspace holding more snapshots than this is worth a warning (no hard limit). */
#define ADVISORY_SNAPSHOT_LIMIT 1000

/* Fill e's adv_* fields for the client of `session`, counting only the workspaces it may
 * see; leaves e untouched when that session is gone. */
void advisory_fill(const struct privd *pd, uint32_t session, struct ps_reply_end *e);

#endif
