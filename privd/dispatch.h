/* The table of permitted requests: validate a PS_REQUEST frame, then run its operation. */
#ifndef WSCKPT_DISPATCH_H
#define WSCKPT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "privd/privd.h"

/* 0: answered (or will be), -1: protocol violation (caller drops the channel). */
int dispatch_request(struct privd *pd, uint32_t session, const void *data, size_t len);

#endif
