/*
 * libFuzzer harness: privd's validation of PS_REQUEST payloads (privd/dispatch.c
 * dispatch_validate), which treats frontd as possibly compromised.
 *
 * Input byte 0 selects the mode:
 *   even: raw — the rest is the payload exactly as read from the channel (a full
 *         struct ps_request is 8 KiB, so raw inputs are large);
 *   odd:  structured — a compact encoding the fuzzer can explore efficiently:
 *         [1] op  [2] flags  [3] knobs  [4] knobs2  [5..] workspace '\n' snapshot '\n'
 *         message '\n' snapshot2 '\n' metadata (the metadata is the rest of the input).
 *         knobs:
 *           0x01/0x02/0x04  fill workspace/snapshot/message to the end of its field
 *                           with no terminating NUL
 *           0x08/0x10       declare metadata_len one more / one less than sent
 *           0x20            non-zero pad bytes
 *           0x40            declare metadata_len as 0xffffffff - len (huge)
 *           0x80            put the op's high bits in: op |= 0x100 << (knobs & 3)
 *         knobs2:
 *           0x01            fill snapshot2 likewise
 *           0x02            non-zero reserved field
 *           bits 2..7       number (0..63)
 * On acceptance every field must satisfy what the operations assume.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/jsonlimits.h"
#include "common/validate.h"
#include "privd/dispatch.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_dispatch: invariant failed: %s\n", #cond);    \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void check_accepted(const struct ps_request *r, const char *metadata)
{
	CHECK(r->op >= OP_VERSION && r->op < OP__MAX);
	CHECK((r->flags & ~PSF__ALL) == 0);
	CHECK(memchr(r->workspace, '\0', sizeof(r->workspace)) != NULL);
	CHECK(memchr(r->snapshot, '\0', sizeof(r->snapshot)) != NULL);
	CHECK(memchr(r->message, '\0', sizeof(r->message)) != NULL);
	if (r->flags & PSF_HAS_WORKSPACE) {
		char norm[WS_PATH_MAX];
		CHECK(ws_id_valid(r->workspace) ||
		      (path_normalize(r->workspace, norm, sizeof(norm)) &&
		       strcmp(norm, r->workspace) == 0));
	} else {
		CHECK(r->workspace[0] == '\0');
	}
	CHECK(r->snapshot[0] == '\0' || snapshot_id_valid(r->snapshot));
	CHECK(memchr(r->snapshot2, '\0', sizeof(r->snapshot2)) != NULL);
	CHECK(r->snapshot2[0] == '\0' || snapshot_id_valid(r->snapshot2));
	/* rollback -n N names no snapshot: the history does. */
	CHECK(r->snapshot[0] != '\0' || r->snapshot2[0] != '\0' ||
	      (r->op == OP_ROLLBACK && r->number != 0) ||
	      (r->op != OP_CHECKPOINT && r->op != OP_ROLLBACK && r->op != OP_DELETE &&
	       r->op != OP_PIN && r->op != OP_DIFF));
	CHECK(r->reserved == 0);
	CHECK(r->number == 0 || r->op == OP_CLEANUP || r->op == OP_ROLLBACK);
	CHECK(r->op != OP_ROLLBACK || r->number == 0 ||
	      (r->snapshot[0] == '\0' && r->snapshot2[0] == '\0'));
	CHECK((r->flags & PSF_HAS_MESSAGE) || r->message[0] == '\0');
	CHECK((r->metadata_len == 0) == (metadata == NULL));
	/* Strings go into state files and client replies, which are JSON: UTF-8 only. */
	CHECK(utf8_valid(r->workspace, strlen(r->workspace)));
	CHECK(utf8_valid(r->message, strlen(r->message)));
	if (metadata) {
		size_t mlen = strlen(metadata);
		cJSON *j;
		char *canon;

		CHECK(r->op == OP_CHECKPOINT);
		CHECK(mlen > 0 && mlen <= PRIVSEP_METADATA_MAX);
		CHECK(json_depth_ok(metadata, mlen, JSON_MAX_DEPTH));
		CHECK(utf8_valid(metadata, mlen));
		/* privd stores the text as is and splices it raw (cJSON_CreateRaw) into
		 * index.json and replies: it must be exactly one JSON value, in the form
		 * cJSON prints it (no trailing text, no raw control characters). */
		j = cJSON_ParseWithOpts(metadata, NULL, 1);
		CHECK(j != NULL);
		canon = cJSON_PrintUnformatted(j);
		CHECK(canon != NULL && strcmp(canon, metadata) == 0);
		cJSON_free(canon);
		cJSON_Delete(j);
	}
}

static void run(const void *payload, size_t len)
{
	struct ps_request req;
	char *metadata = (char *)1; /* must be reset by dispatch_validate */
	int rc = dispatch_validate(payload, len, &req, &metadata);

	CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		check_accepted(&req, metadata);
	else
		CHECK(metadata == NULL);
	free(metadata);
}

/* Copy s[0..n) into a field of size fsz; fill: no terminator, pad with 'a' to the end. */
static void put_field(char *dst, size_t fsz, const uint8_t *s, size_t n, int fill)
{
	if (fill) {
		memset(dst, 'a', fsz);
		memcpy(dst, s, n < fsz ? n : fsz);
		return;
	}
	if (n > fsz - 1)
		n = fsz - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static const uint8_t *next_part(const uint8_t **p, const uint8_t *end, size_t *n)
{
	const uint8_t *start = *p;
	const uint8_t *nl = memchr(start, '\n', (size_t)(end - start));

	if (!nl) {
		*n = (size_t)(end - start);
		*p = end;
	} else {
		*n = (size_t)(nl - start);
		*p = nl + 1;
	}
	return start;
}

static void structured(const uint8_t *data, size_t size)
{
	struct ps_request r;
	const uint8_t *p = data + 5, *end = data + size;
	const uint8_t *ws, *snap, *msg, *snap2;
	size_t wsn, snapn, msgn, snap2n, mlen;
	uint8_t knobs, knobs2;
	uint8_t *frame;

	if (size < 5)
		return;
	knobs = data[3];
	knobs2 = data[4];
	memset(&r, 0, sizeof(r));
	r.req_id = 7;
	r.op = data[1];
	if (knobs & 0x80)
		r.op |= 0x100u << (knobs & 3);
	r.flags = data[2];
	ws = next_part(&p, end, &wsn);
	snap = next_part(&p, end, &snapn);
	msg = next_part(&p, end, &msgn);
	snap2 = next_part(&p, end, &snap2n);
	mlen = (size_t)(end - p);
	put_field(r.workspace, sizeof(r.workspace), ws, wsn, knobs & 0x01);
	put_field(r.snapshot, sizeof(r.snapshot), snap, snapn, knobs & 0x02);
	put_field(r.message, sizeof(r.message), msg, msgn, knobs & 0x04);
	put_field(r.snapshot2, sizeof(r.snapshot2), snap2, snap2n, knobs2 & 0x01);
	if (knobs & 0x20)
		memset(r.pad, 0x5a, sizeof(r.pad));
	if (knobs2 & 0x02)
		r.reserved = 1;
	r.number = knobs2 >> 2;
	r.metadata_len = (uint32_t)mlen;
	if (knobs & 0x08)
		r.metadata_len++;
	if (knobs & 0x10)
		r.metadata_len--;
	if (knobs & 0x40)
		r.metadata_len = 0xffffffffu - (uint32_t)mlen;
	frame = malloc(sizeof(r) + mlen);
	if (!frame)
		return;
	memcpy(frame, &r, sizeof(r));
	if (mlen)
		memcpy(frame + sizeof(r), p, mlen);
	run(frame, sizeof(r) + mlen);
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		structured(data, size);
	} else {
		/* Exact-size copy so a read past the payload is caught. */
		size_t n = size - 1;
		uint8_t *buf = malloc(n ? n : 1);
		if (!buf)
			return 0;
		if (n)
			memcpy(buf, data + 1, n);
		run(buf, n);
		free(buf);
	}
	return 0;
}
