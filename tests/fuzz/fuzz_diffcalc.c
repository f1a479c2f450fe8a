/*
 * libFuzzer harness: frontd's send-stream change classifier (frontd/diffcalc.c on top
 * of frontd/sendstream.c), the code that turns the diff stream into the client's list.
 *
 * Input byte 0 holds knobs, the rest is the input proper:
 *   bit 0      raw mode: fix the crc of every whole command before feeding (else
 *              random bytes would almost never get past the crc check);
 *   bit 1      script mode: the rest is not a stream but 3-byte operations
 *              (command, path, second path) over a tiny name space, encoded into a
 *              well-formed stream, so renames, links, temp names, cycles and
 *              removals meet each other far more often than random bytes allow;
 *   bit 2      script mode: a full stream (SUBVOL) instead of an incremental one;
 *   bits 3..7  k: the second run feeds pieces of 1..k+1 bytes (k = 0: byte by byte).
 * Every input is classified twice, all at once and in chunks: both must agree
 * (same error or the same entries). A result must be well formed: unique, relative,
 * normalised paths; old_path exactly on renames; JSON that parses back, is valid
 * UTF-8 and has one object per entry.
 *
 * Seeds (tests/fuzz/corpus/diffcalc/): the real streams of tests/unit/data/sendstream/
 * behind a 0x00 knob byte (written by tests/unit/gen_sendstreams.sh), chunked_all
 * (all.stream behind 0x79: crc fix, pieces of 1..16 bytes), and two scripts:
 * script_mix (temp-named dir with a child, link + unlink, a rename out of a removed
 * dir) and script_full (a full stream with a rename into a descendant).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/validate.h"
#include "frontd/diffcalc.h"
#include "frontd/sendstream.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_diffcalc: invariant failed: %s\n", #cond);    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* ---- a growable byte buffer and the stream encoder of script mode ---- */

struct buf {
	uint8_t *p;
	size_t len, cap, cmd;
};

static void put(struct buf *b, const void *v, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void put_le(struct buf *b, uint64_t v, int bytes)
{
	uint8_t x[8];

	for (int i = 0; i < bytes; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, (size_t)bytes);
}

static void cmd_begin(struct buf *b, uint16_t type)
{
	b->cmd = b->len;
	put_le(b, 0, 4);
	put_le(b, type, 2);
	put_le(b, 0, 4);
}

static void put_str(struct buf *b, uint16_t type, const char *s)
{
	put_le(b, type, 2);
	put_le(b, strlen(s), 2);
	put(b, s, strlen(s));
}

static void cmd_end(struct buf *b)
{
	uint32_t len = (uint32_t)(b->len - b->cmd - SS_CMD_HDR_LEN), crc;

	for (int i = 0; i < 4; i++)
		b->p[b->cmd + i] = (uint8_t)(len >> (8 * i));
	crc = ss_crc32c(0, b->p + b->cmd, b->len - b->cmd);
	for (int i = 0; i < 4; i++)
		b->p[b->cmd + 6 + i] = (uint8_t)(crc >> (8 * i));
}

/* Path from one byte: depth (x & 3) of names chosen by the other bits; 0 = the root. */
static void script_path(uint8_t x, char *out, size_t outsz)
{
	static const char *const names[] = { "a", "b", "o300-9-0", "d" };
	int depth = x & 3;
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < depth; i++) {
		const char *nm = names[(x >> (2 + 2 * i)) & 3];

		n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? "/" : "", nm);
	}
}

static const uint16_t script_cmds[] = {
	SS_C_MKFILE, SS_C_MKDIR,	 SS_C_SYMLINK, SS_C_MKFIFO,   SS_C_RENAME,
	SS_C_LINK,   SS_C_UNLINK,	 SS_C_RMDIR,   SS_C_UPDATE_EXTENT, SS_C_CHMOD,
	SS_C_UTIMES, SS_C_CLONE,	 SS_C_SET_XATTR, SS_C_TRUNCATE, SS_C_WRITE,
};

static void script_to_stream(const uint8_t *d, size_t n, int full, struct buf *b)
{
	char p1[64], p2[64];

	put(b, SS_MAGIC, SS_MAGIC_LEN);
	put_le(b, 1, 4);
	cmd_begin(b, full ? SS_C_SUBVOL : SS_C_SNAPSHOT);
	put_str(b, SS_A_PATH, "snap");
	cmd_end(b);
	for (size_t i = 0; i + 3 <= n; i += 3) {
		uint16_t type = script_cmds[d[i] % (sizeof(script_cmds) / sizeof(script_cmds[0]))];

		script_path(d[i + 1], p1, sizeof(p1));
		script_path(d[i + 2], p2, sizeof(p2));
		cmd_begin(b, type);
		put_str(b, SS_A_PATH, p1);
		if (type == SS_C_RENAME)
			put_str(b, SS_A_PATH_TO, p2);
		else if (type == SS_C_LINK || type == SS_C_SYMLINK)
			put_str(b, SS_A_PATH_LINK, p2);
		cmd_end(b);
	}
	cmd_begin(b, SS_C_END);
	cmd_end(b);
}

/* ---- raw mode ---- */

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fix_crcs(uint8_t *s, size_t n)
{
	size_t pos = SS_STREAM_HDR_LEN;

	while (pos + SS_CMD_HDR_LEN <= n) {
		uint32_t len = rd32(s + pos), crc;

		if (len > n - pos - SS_CMD_HDR_LEN)
			break;
		memset(s + pos + 6, 0, 4);
		crc = ss_crc32c(0, s + pos, SS_CMD_HDR_LEN + (size_t)len);
		for (int i = 0; i < 4; i++)
			s[pos + 6 + i] = (uint8_t)(crc >> (8 * i));
		pos += SS_CMD_HDR_LEN + (size_t)len;
	}
}

/* ---- classification and checks ---- */

/* chunk 0: all at once; else pieces of 1..chunk bytes. NULL with err on failure. */
static struct diffcalc *classify(const uint8_t *s, size_t n, unsigned chunk, char *err,
				 size_t errsz)
{
	struct diffcalc *dc = diffcalc_new();
	uint32_t lcg = chunk;
	size_t pos = 0;

	CHECK(dc != NULL);
	/* Small enough that the cap is reached now and then. */
	diffcalc_set_max_nodes(dc, 4096);
	while (pos < n) {
		size_t piece = n - pos;

		if (chunk) {
			lcg = lcg * 1103515245u + 12345u;
			piece = 1 + (lcg >> 16) % chunk;
			if (piece > n - pos)
				piece = n - pos;
		}
		if (diffcalc_feed(dc, s + pos, piece, err, errsz) < 0)
			goto fail;
		pos += piece;
	}
	if (diffcalc_finish(dc, err, errsz) < 0)
		goto fail;
	return dc;
fail:
	CHECK(err[0] != '\0');
	/* Sticky. */
	CHECK(diffcalc_finish(dc, err, errsz) == -1);
	CHECK(diffcalc_count(dc) == 0);
	diffcalc_free(dc);
	return NULL;
}

static void check_path(const char *p)
{
	size_t len = strlen(p);

	CHECK(len > 0);
	if (strcmp(p, ".") == 0)
		return;
	CHECK(p[0] != '/' && p[len - 1] != '/');
	CHECK(strstr(p, "//") == NULL);
	CHECK(strcmp(p, "..") != 0 && strncmp(p, "../", 3) != 0 && strstr(p, "/../") == NULL);
}

static void check_entries(const struct diffcalc *dc)
{
	size_t n = diffcalc_count(dc);

	for (size_t i = 0; i < n; i++) {
		const struct diff_entry *e = diffcalc_entry(dc, i);

		CHECK(e != NULL);
		CHECK(e->change <= DIFF_RENAMED && e->kind <= DIFF_KIND_OTHER);
		check_path(e->path);
		CHECK((e->change == DIFF_RENAMED) == (e->old_path != NULL));
		if (e->old_path) {
			check_path(e->old_path);
			CHECK(strcmp(e->path, e->old_path) != 0);
		}
		CHECK(e->kind != DIFF_KIND_HARDLINK || e->change == DIFF_ADDED);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(diffcalc_entry(dc, j)->path, e->path) != 0);
	}
	CHECK(diffcalc_entry(dc, n) == NULL);
}

static void check_json(const struct diffcalc *dc)
{
	char *json = diffcalc_to_json(dc);
	cJSON *arr;

	CHECK(json != NULL);
	CHECK(utf8_valid(json, strlen(json)));
	arr = cJSON_Parse(json);
	CHECK(arr != NULL && cJSON_IsArray(arr));
	CHECK((size_t)cJSON_GetArraySize(arr) == diffcalc_count(dc));
	cJSON_Delete(arr);
	free(json);
}

static void same_result(const struct diffcalc *a, const struct diffcalc *b)
{
	CHECK(diffcalc_count(a) == diffcalc_count(b));
	for (size_t i = 0; i < diffcalc_count(a); i++) {
		const struct diff_entry *x = diffcalc_entry(a, i), *y = diffcalc_entry(b, i);

		CHECK(x->change == y->change && x->kind == y->kind);
		CHECK(strcmp(x->path, y->path) == 0);
		CHECK((x->old_path == NULL) == (y->old_path == NULL));
		CHECK(!x->old_path || strcmp(x->old_path, y->old_path) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = { 0 };
	struct diffcalc *whole, *chunked;
	char err1[512] = "", err2[512] = "";
	uint8_t knobs;

	if (size == 0)
		return 0;
	knobs = data[0];
	if (knobs & 2) {
		script_to_stream(data + 1, size - 1, knobs & 4, &b);
	} else {
		put(&b, data + 1, size - 1);
		if (knobs & 1)
			fix_crcs(b.p, b.len);
	}
	whole = classify(b.p, b.len, 0, err1, sizeof(err1));
	chunked = classify(b.p, b.len, (unsigned)(knobs >> 3) + 1, err2, sizeof(err2));
	CHECK((whole == NULL) == (chunked == NULL));
	if (whole) {
		check_entries(whole);
		check_json(whole);
		same_result(whole, chunked);
	} else {
		CHECK(strcmp(err1, err2) == 0);
	}
	diffcalc_free(whole);
	diffcalc_free(chunked);
	free(b.p);
	return 0;
}
