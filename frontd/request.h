/* Turn one client NDJSON line into a privsep request, or into a precise error. */
#ifndef WSCKPT_FRONTD_REQUEST_H
#define WSCKPT_FRONTD_REQUEST_H

#include <stddef.h>

#include "proto/errcode.h"
#include "proto/privsep.h"

struct parsed_request {
	struct ps_request req;
	char *metadata;   /* canonical JSON, or NULL */
	char idtext[32];  /* the client's id as JSON ("null" when unusable) */
};

/* 0 ok; otherwise the error code, with a message in err. The caller frees metadata. */
enum ws_err request_parse(const char *line, size_t len, struct parsed_request *out, char *err,
			  size_t errsz);

#endif
