/* The table of permitted requests: validate a PS_REQUEST frame, then run its operation. */
#ifndef WSCKPT_DISPATCH_H
#define WSCKPT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "privd/privd.h"
#include "proto/privsep.h"

/* Validate a PS_REQUEST payload (exact length, known op, allowed flags, NUL-terminated
 * and re-validated fields, metadata NUL-free shallow JSON) into *req. 0, with *metadata
 * a malloc'd NUL-terminated copy or NULL (the caller frees it), or -1: protocol violation. */
int dispatch_validate(const void *data, size_t len, struct ps_request *req, char **metadata);

/* Name of an operation for logs ("?" if unknown). */
const char *dispatch_op_name(uint32_t op);

/* 0: answered (or will be), -1: protocol violation (caller drops the channel). */
int dispatch_request(struct privd *pd, uint32_t session, const void *data, size_t len);

#endif
