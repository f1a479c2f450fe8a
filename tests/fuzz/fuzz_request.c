/*
 * libFuzzer harness: frontd's client request parser (frontd/request.c request_parse),
 * the one place untrusted JSON is decoded. The input is one NDJSON line (without its
 * newline), in a buffer of exactly its length so any over-read is caught.
 *
 * Besides memory safety it checks a cross-boundary property: every request frontd
 * accepts, framed as frontd frames it, must pass privd's dispatch_validate unchanged.
 * Otherwise a well-formed client request would make privd drop the whole channel.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontd/request.h"
#include "privd/dispatch.h"

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_request: invariant failed: %s\n", #cond);   \
			abort();                                                          \
		}                                                                         \
	} while (0)

static void cross_check(const struct parsed_request *pr)
{
	size_t mlen = pr->req.metadata_len;
	size_t flen = sizeof(pr->req) + mlen;
	uint8_t *frame = malloc(flen);
	struct ps_request req;
	char *metadata = NULL;

	CHECK(frame != NULL);
	memcpy(frame, &pr->req, sizeof(pr->req));
	/* frontd sets req_id when it forwards; any value must do. */
	((struct ps_request *)(void *)frame)->req_id = 42;
	if (mlen)
		memcpy(frame + sizeof(pr->req), pr->metadata, mlen);
	if (dispatch_validate(frame, flen, &req, &metadata) != 0) {
		fprintf(stderr, "fuzz_request: privd rejects a request frontd accepted: op %u flags 0x%x "
				"workspace '%.80s' snapshot '%s' metadata_len %zu\n",
			pr->req.op, pr->req.flags, pr->req.workspace, pr->req.snapshot, mlen);
		abort();
	}
	CHECK(req.op == pr->req.op && req.flags == pr->req.flags);
	CHECK(strcmp(req.workspace, pr->req.workspace) == 0);
	CHECK(strcmp(req.snapshot, pr->req.snapshot) == 0);
	CHECK(strcmp(req.message, pr->req.message) == 0);
	CHECK((mlen == 0) == (metadata == NULL));
	if (metadata)
		CHECK(strcmp(metadata, pr->metadata) == 0);
	free(metadata);
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parsed_request pr;
	char err[512];
	char *line = malloc(size ? size : 1);
	enum ws_err e;

	if (!line)
		return 0;
	if (size)
		memcpy(line, data, size);
	err[0] = '\0';
	e = request_parse(line, size, &pr, err, sizeof(err));
	CHECK(memchr(pr.idtext, '\0', sizeof(pr.idtext)) != NULL);
	if (e != WSE_OK) {
		CHECK(e < WSE__COUNT);
		CHECK(pr.metadata == NULL);
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
	} else {
		CHECK(pr.req.op >= OP_VERSION && pr.req.op < OP__MAX);
		CHECK((pr.req.flags & ~PSF__ALL) == 0);
		CHECK(memchr(pr.req.workspace, '\0', sizeof(pr.req.workspace)) != NULL);
		CHECK(memchr(pr.req.snapshot, '\0', sizeof(pr.req.snapshot)) != NULL);
		CHECK(memchr(pr.req.message, '\0', sizeof(pr.req.message)) != NULL);
		CHECK((pr.metadata == NULL) == (pr.req.metadata_len == 0));
		if (pr.metadata)
			CHECK(strlen(pr.metadata) == pr.req.metadata_len &&
			      pr.req.metadata_len <= PRIVSEP_METADATA_MAX);
		cross_check(&pr);
	}
	free(pr.metadata);
	free(line);
	return 0;
}
