/*
 * libFuzzer harness: frontd's btrfs send-stream parser (frontd/sendstream.c), which
 * frontd runs unprivileged on the diff stream privd hands it.
 *
 * Input byte 0 holds knobs, the rest is the stream:
 *   bit 0      fix the crc of every whole command before feeding (else random bytes
 *              would almost never get past the crc check);
 *   bits 1..7  chunking: the stream is fed in pieces of varying size derived from them
 *              (0: all at once), as it would arrive from a pipe.
 * The callback reads every attribute value in full (an out-of-bounds pointer shows up
 * under ASan), exercises ss_attr_u64/ss_attr_str and stops the stream at a command
 * chosen by the input, to cover the callback-error path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontd/sendstream.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_sendstream: invariant failed: %s\n", #cond);    \
			abort();                                                             \
		}                                                                            \
	} while (0)

static volatile uint8_t sink;

struct run {
	uint64_t ncmds;
	uint64_t stop_at; /* callback fails at this command index */
	int saw_end;
};

static int on_cmd(void *arg, const struct ss_cmd *cmd, char *err, size_t errsz)
{
	struct run *r = arg;
	char path[4096];
	uint64_t v;

	CHECK(cmd->type != SS_C_UNSPEC && cmd->type <= SS_C_MAX_V3);
	CHECK(cmd->version >= 1 && cmd->version <= SS_VERSION_MAX);
	CHECK(cmd->index == r->ncmds);
	CHECK(!r->saw_end); /* nothing is delivered after END */
	CHECK(!cmd->attr[SS_A_UNSPEC].present);
	for (int t = 1; t <= SS_A_MAX; t++) {
		const struct ss_attr *a = &cmd->attr[t];

		if (!a->present) {
			CHECK(ss_attr_u64(cmd, t, &v, err, errsz) == -1);
			continue;
		}
		CHECK(a->len < SS_CMD_MAX);
		for (uint32_t k = 0; k < a->len; k++)
			sink ^= a->val[k];
		CHECK(ss_attr_u64(cmd, t, &v, err, errsz) == (a->len == 8 ? 0 : -1));
		if (ss_attr_str(cmd, t, path, sizeof(path), err, errsz) == 0)
			CHECK(strlen(path) == a->len);
		else
			CHECK(a->len >= sizeof(path) || memchr(a->val, '\0', a->len) != NULL);
	}
	CHECK(ss_attr_str(cmd, 0, path, sizeof(path), err, errsz) == -1);
	CHECK(ss_attr_str(cmd, SS_A_MAX + 1, path, sizeof(path), err, errsz) == -1);
	r->ncmds++;
	if (cmd->type == SS_C_END)
		r->saw_end = 1;
	if (cmd->index == r->stop_at) {
		snprintf(err, errsz, "stopped by the harness");
		return -1;
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Recompute the crc of each whole command, as the kernel would have written it. */
static void fix_crcs(uint8_t *s, size_t n)
{
	size_t pos = SS_STREAM_HDR_LEN;

	while (pos + SS_CMD_HDR_LEN <= n) {
		uint32_t len = rd32(s + pos), crc;

		if (len > n - pos - SS_CMD_HDR_LEN)
			break;
		memset(s + pos + 6, 0, 4);
		crc = ss_crc32c(0, s + pos, SS_CMD_HDR_LEN + (size_t)len);
		s[pos + 6] = (uint8_t)crc;
		s[pos + 7] = (uint8_t)(crc >> 8);
		s[pos + 8] = (uint8_t)(crc >> 16);
		s[pos + 9] = (uint8_t)(crc >> 24);
		pos += SS_CMD_HDR_LEN + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = { 0 };
	struct sendstream *ss;
	char err[512];
	uint8_t knobs, *s;
	size_t n, pos = 0;
	uint32_t lcg;
	int rc = 0;

	if (size == 0)
		return 0;
	knobs = data[0];
	n = size - 1;
	s = malloc(n ? n : 1);
	if (!s)
		return 0;
	if (n)
		memcpy(s, data + 1, n);
	if (knobs & 1)
		fix_crcs(s, n);
	/* Stop at a command derived from the input (usually past the end: no stop). */
	r.stop_at = n ? (uint64_t)(s[n - 1] % 64) : UINT64_MAX;
	lcg = knobs >> 1;
	ss = sendstream_new(on_cmd, &r);
	CHECK(ss != NULL);
	while (pos < n) {
		size_t chunk = n - pos;

		if (lcg) {
			lcg = lcg * 1103515245u + 12345u;
			chunk = 1 + (lcg >> 16) % 97;
			if (chunk > n - pos)
				chunk = n - pos;
		}
		err[0] = '\0';
		rc = sendstream_feed(ss, s + pos, chunk, err, sizeof(err));
		pos += chunk;
		if (rc < 0) {
			CHECK(err[0] != '\0');
			/* Sticky: the same error again. */
			CHECK(sendstream_feed(ss, s, n ? 1 : 0, err, sizeof(err)) == -1 || n == 0);
			break;
		}
		CHECK(rc == 0);
	}
	err[0] = '\0';
	if (sendstream_finish(ss, err, sizeof(err)) == 0) {
		CHECK(rc == 0 && r.saw_end);
	} else {
		CHECK(err[0] != '\0');
	}
	sendstream_free(ss);
	free(s);
	return 0;
}
