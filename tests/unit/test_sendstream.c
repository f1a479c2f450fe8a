/*
 * Unit tests for frontd/sendstream.c (send stream parser) and frontd/diffcalc.c
 * (change classifier).
 *
 * Fixtures in tests/unit/data/sendstream/ are real `btrfs send --no-data -p A B`
 * streams made by tests/unit/gen_sendstreams.sh, each with the classification written
 * by hand from what the scenario did (<name>.expected). Everything else is built here
 * with a small encoder, so malformed and large streams need no filesystem.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "frontd/diffcalc.h"
#include "frontd/sendstream.h"

/* ---- fixtures ------------------------------------------------------------------- */

static const char *const fixtures[] = {
	"add",	  "rename", "delete", "modify", "names", "replace",
	"swap",	  "tangle", "editor", "all",	"all_v2",
};

static char *data_path(const char *name, const char *ext)
{
	/* __FILE__ is tests/unit/test_sendstream.c as given to the compiler. */
	const char *file = __FILE__, *slash = strrchr(file, '/');
	int dirlen = slash ? (int)(slash - file) : 0;
	char *p = NULL;

	if (asprintf(&p, "%.*s%sdata/sendstream/%s.%s", dirlen, file, slash ? "/" : "", name,
		     ext) < 0)
		return NULL;
	return p;
}

static uint8_t *slurp(const char *name, const char *ext, size_t *len)
{
	char *path = data_path(name, ext);
	FILE *f = path ? fopen(path, "rb") : NULL;
	uint8_t *buf;

	if (!f)
		fail_msg("cannot open fixture %s", path ? path : name);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	free(path);
	return buf;
}

/* ---- running the classifier ------------------------------------------------------ */

/* Feed buf in chunks of `chunk` bytes (0: all at once). Returns dc or NULL with err. */
static struct diffcalc *run(const uint8_t *buf, size_t len, size_t chunk, char *err,
			    size_t errsz)
{
	struct diffcalc *dc = diffcalc_new();
	size_t off = 0;

	assert_non_null(dc);
	if (chunk == 0)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (diffcalc_feed(dc, buf + off, n, err, errsz) < 0)
			goto fail;
		off += n;
	}
	if (diffcalc_finish(dc, err, errsz) < 0)
		goto fail;
	return dc;
fail:
	diffcalc_free(dc);
	return NULL;
}

/* The entries as "<change>\t<path>\t<old or ->\t<kind>\n" lines, like *.expected. */
static char *render(const struct diffcalc *dc)
{
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	out[0] = '\0';
	for (size_t i = 0; i < diffcalc_count(dc); i++) {
		const struct diff_entry *e = diffcalc_entry(dc, i);
		size_t need = strlen(e->path) + (e->old_path ? strlen(e->old_path) : 1) + 40;

		if (len + need >= cap) {
			cap = (len + need) * 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		len += (size_t)sprintf(out + len, "%s\t%s\t%s\t%s\n", diff_change_name(e->change),
				       e->path, e->old_path ? e->old_path : "-",
				       diff_kind_name(e->kind));
	}
	return out;
}

static char *classify(const uint8_t *buf, size_t len, size_t chunk)
{
	char err[512] = "";
	struct diffcalc *dc = run(buf, len, chunk, err, sizeof(err));
	char *text;

	if (!dc)
		fail_msg("classification failed: %s", err);
	text = render(dc);
	diffcalc_free(dc);
	return text;
}

/* Expect failure; the message must contain `why`. */
static void expect_error(const uint8_t *buf, size_t len, size_t chunk, const char *why)
{
	char err[512] = "";
	struct diffcalc *dc = run(buf, len, chunk, err, sizeof(err));

	if (dc) {
		char *text = render(dc);

		diffcalc_free(dc);
		fail_msg("accepted a bad stream (wanted '%s'):\n%s", why, text);
	}
	if (!strstr(err, why))
		fail_msg("error '%s' does not mention '%s'", err, why);
}

/* ---- encoder ------------------------------------------------------------------------ */

struct enc {
	uint8_t *buf;
	size_t len, cap, cmd;
};

static void enc_bytes(struct enc *e, const void *p, size_t n)
{
	if (e->len + n > e->cap) {
		e->cap = (e->len + n) * 2 + 4096;
		e->buf = realloc(e->buf, e->cap);
		assert_non_null(e->buf);
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void enc_le(struct enc *e, uint64_t v, int bytes)
{
	uint8_t b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	enc_bytes(e, b, (size_t)bytes);
}

static void enc_header(struct enc *e, uint32_t version)
{
	enc_bytes(e, SS_MAGIC, SS_MAGIC_LEN);
	enc_le(e, version, 4);
}

static void enc_begin(struct enc *e, uint16_t cmd)
{
	e->cmd = e->len;
	enc_le(e, 0, 4);
	enc_le(e, cmd, 2);
	enc_le(e, 0, 4);
}

static void enc_attr(struct enc *e, uint16_t type, const void *val, size_t len)
{
	enc_le(e, type, 2);
	enc_le(e, len, 2);
	enc_bytes(e, val, len);
}

static void enc_str(struct enc *e, uint16_t type, const char *s)
{
	enc_attr(e, type, s, strlen(s));
}

static void enc_u64(struct enc *e, uint16_t type, uint64_t v)
{
	enc_le(e, type, 2);
	enc_le(e, 8, 2);
	enc_le(e, v, 8);
}

/* Fill in the command's length and crc. */
static void enc_end(struct enc *e)
{
	uint8_t *h = e->buf + e->cmd;
	uint32_t len = (uint32_t)(e->len - e->cmd - SS_CMD_HDR_LEN), crc;

	for (int i = 0; i < 4; i++)
		h[i] = (uint8_t)(len >> (8 * i));
	crc = ss_crc32c(0, h, e->len - e->cmd);
	for (int i = 0; i < 4; i++)
		h[6 + i] = (uint8_t)(crc >> (8 * i));
}

/* One-path command: cmd path. */
static void enc_p(struct enc *e, uint16_t cmd, const char *path)
{
	enc_begin(e, cmd);
	enc_str(e, SS_A_PATH, path);
	if (cmd == SS_C_UPDATE_EXTENT) {
		enc_u64(e, SS_A_FILE_OFFSET, 0);
		enc_u64(e, SS_A_SIZE, 4096);
	}
	enc_end(e);
}

/* Two-path command: rename path -> path_to, link path -> path_link. */
static void enc_pp(struct enc *e, uint16_t cmd, const char *path, const char *other)
{
	enc_begin(e, cmd);
	enc_str(e, SS_A_PATH, path);
	enc_str(e, cmd == SS_C_RENAME ? SS_A_PATH_TO : SS_A_PATH_LINK, other);
	enc_end(e);
}

static void enc_start(struct enc *e, uint32_t version, uint16_t kind)
{
	static const uint8_t uuid[16] = { 1, 2, 3 };

	enc_header(e, version);
	enc_begin(e, kind);
	enc_str(e, SS_A_PATH, "snap");
	enc_attr(e, SS_A_UUID, uuid, sizeof(uuid));
	enc_u64(e, SS_A_CTRANSID, 7);
	if (kind == SS_C_SNAPSHOT) {
		enc_attr(e, SS_A_CLONE_UUID, uuid, sizeof(uuid));
		enc_u64(e, SS_A_CLONE_CTRANSID, 5);
	}
	enc_end(e);
}

static void enc_finish(struct enc *e)
{
	enc_begin(e, SS_C_END);
	enc_end(e);
}

/* A new entry the way send makes it: under a temp name, then renamed. */
static void enc_new(struct enc *e, uint16_t cmd, uint64_t ino, const char *path)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "o%llu-9-0", (unsigned long long)ino);
	enc_begin(e, cmd);
	enc_str(e, SS_A_PATH, tmp);
	enc_u64(e, SS_A_INO, ino);
	if (cmd == SS_C_SYMLINK)
		enc_str(e, SS_A_PATH_LINK, "target");
	enc_end(e);
	enc_pp(e, SS_C_RENAME, tmp, path);
}

static void check_text(struct enc *e, const char *want)
{
	char *got = classify(e->buf, e->len, 0);

	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
	free(got);
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

/* ---- tests: real fixtures --------------------------------------------------------------- */

static void test_fixtures(void **state)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t slen, elen;
		uint8_t *s = slurp(fixtures[i], "stream", &slen);
		char *want = (char *)slurp(fixtures[i], "expected", &elen);
		char *got = classify(s, slen, 0);

		assert_true(slen < 64 * 1024);
		if (strcmp(got, want) != 0)
			fail_msg("fixture %s:\ngot:\n%s\nwant:\n%s", fixtures[i], got, want);
		free(got);
		free(want);
		free(s);
	}
}

/* Any chunking gives the same result: 1 byte at a time, odd sizes, whole. */
static void test_fixtures_chunked(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 10, 17, 64, 4095 };

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t slen;
		uint8_t *s = slurp(fixtures[i], "stream", &slen);
		char *whole = classify(s, slen, 0);

		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			char *got = classify(s, slen, chunks[c]);

			if (strcmp(got, whole) != 0)
				fail_msg("fixture %s in %zu-byte chunks differs", fixtures[i],
					 chunks[c]);
			free(got);
		}
		free(whole);
		free(s);
	}
}

static void test_json(void **state)
{
	size_t slen;
	uint8_t *s = slurp("rename", "stream", &slen);
	char err[256];
	struct diffcalc *dc = run(s, slen, 0, err, sizeof(err));
	char *json;

	assert_non_null(dc);
	json = diffcalc_to_json(dc);
	assert_non_null(json);
	assert_string_equal(
		json,
		"[{\"change\":\"renamed\",\"path\":\"newname\",\"old_path\":\"olddir\",\"kind\":\"directory\"},"
		"{\"change\":\"renamed\",\"path\":\"a-renamed.txt\",\"old_path\":\"a.txt\",\"kind\":\"file\"},"
		"{\"change\":\"added\",\"path\":\"fresh\",\"kind\":\"directory\"},"
		"{\"change\":\"renamed\",\"path\":\"fresh/c-moved.txt\",\"old_path\":\"dir/c.txt\",\"kind\":\"file\"},"
		"{\"change\":\"added\",\"path\":\"fresh/made-renamed\",\"kind\":\"file\"}]");
	free(json);
	diffcalc_free(dc);
	free(s);
}

/* No change: an empty JSON array. */
static void test_json_empty(void **state)
{
	struct enc e = { 0 };
	char err[256];
	struct diffcalc *dc;
	char *json;

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_p(&e, SS_C_UTIMES, "");
	enc_finish(&e);
	dc = run(e.buf, e.len, 0, err, sizeof(err));
	assert_non_null(dc);
	assert_int_equal(diffcalc_count(dc), 0);
	json = diffcalc_to_json(dc);
	assert_string_equal(json, "[]");
	free(json);
	diffcalc_free(dc);
	free(e.buf);
}

/* A name that is not UTF-8 still gives valid JSON (U+FFFD), and the entry keeps the bytes. */
static void test_json_not_utf8(void **state)
{
	struct enc e = { 0 };
	char err[256];
	struct diffcalc *dc;
	char *json;
	cJSON *arr;

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_new(&e, SS_C_MKFILE, 300, "bad\xff\xc3(name\x01");
	enc_finish(&e);
	dc = run(e.buf, e.len, 0, err, sizeof(err));
	assert_non_null(dc);
	assert_string_equal(diffcalc_entry(dc, 0)->path, "bad\xff\xc3(name\x01");
	json = diffcalc_to_json(dc);
	assert_string_equal(json, "[{\"change\":\"added\",\"path\":\"bad\xef\xbf\xbd\xef\xbf\xbd("
				  "name\\u0001\",\"kind\":\"file\"}]");
	arr = cJSON_Parse(json);
	assert_non_null(arr);
	cJSON_Delete(arr);
	free(json);
	diffcalc_free(dc);
	free(e.buf);
}

/* ---- tests: malformed streams ----------------------------------------------------------------- */

static void test_corrupted_crc(void **state)
{
	size_t slen;
	uint8_t *s = slurp("all", "stream", &slen);

	/* A byte inside the second command's payload, then one in a crc field. */
	s[SS_STREAM_HDR_LEN + 20] ^= 0x40;
	expect_error(s, slen, 0, "crc mismatch");
	expect_error(s, slen, 1, "crc mismatch");
	s[SS_STREAM_HDR_LEN + 20] ^= 0x40;
	s[SS_STREAM_HDR_LEN + 7] ^= 0x01;
	expect_error(s, slen, 0, "crc mismatch");
	free(s);
}

/* Every proper prefix is an error, never a crash or a partial result. */
static void test_truncated(void **state)
{
	size_t slen;
	uint8_t *s = slurp("tangle", "stream", &slen);

	for (size_t n = 0; n < slen; n++) {
		char err[512] = "";
		struct diffcalc *dc = run(s, n, 0, err, sizeof(err));

		if (dc)
			fail_msg("prefix of %zu bytes accepted", n);
		assert_true(strstr(err, "truncated") || strstr(err, "empty stream"));
	}
	free(s);
}

static void test_oversized_command(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SNAPSHOT);
	/* Only the header: the parser must refuse before any payload arrives. */
	enc_le(&e, SS_CMD_MAX - SS_CMD_HDR_LEN + 1, 4);
	enc_le(&e, SS_C_MKFILE, 2);
	enc_le(&e, 0, 4);
	expect_error(e.buf, e.len, 0, "exceeds");
	expect_error(e.buf, e.len, 1, "exceeds");
	free(e.buf);

	/* The largest allowed command is fine (a big xattr); one byte more is not. */
	for (int extra = 1; extra >= 0; extra--) {
		size_t vlen = SS_CMD_MAX - SS_CMD_HDR_LEN - (SS_TLV_HDR_LEN + 1) -
			      (SS_TLV_HDR_LEN + 3) - SS_TLV_HDR_LEN + (size_t)extra;
		char *big = calloc(1, vlen);

		assert_non_null(big);
		memset(&e, 0, sizeof(e));
		enc_start(&e, 1, SS_C_SNAPSHOT);
		enc_begin(&e, SS_C_SET_XATTR);
		enc_str(&e, SS_A_PATH, "a");
		enc_str(&e, SS_A_XATTR_NAME, "u.x");
		enc_attr(&e, SS_A_XATTR_DATA, big, vlen);
		assert_int_equal(e.len - e.cmd, SS_CMD_MAX + (size_t)extra);
		enc_end(&e);
		free(big);
		enc_finish(&e);
		if (extra) {
			expect_error(e.buf, e.len, 0, "exceeds");
			free(e.buf);
		}
	}
	check_text(&e, "modified\ta\t-\tfile\n");
}

static void test_garbage_header(void **state)
{
	static const char junk[] = "this is not a btrfs send stream at all";
	struct enc e = { 0 };

	expect_error((const uint8_t *)junk, sizeof(junk), 0, "bad magic");
	expect_error((const uint8_t *)junk, 5, 0, "truncated stream header");
	expect_error((const uint8_t *)"", 0, 0, "empty stream");
	enc_header(&e, 0);
	expect_error(e.buf, e.len, 0, "unsupported version 0");
	e.len = 0;
	enc_header(&e, 4);
	expect_error(e.buf, e.len, 0, "unsupported version 4");
	free(e.buf);
}

static void test_structure_errors(void **state)
{
	struct enc e = { 0 };

	/* Unknown command number for v1, though valid for v2. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_p(&e, SS_C_FALLOCATE, "a");
	expect_error(e.buf, e.len, 0, "unknown command 23");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* Command 0. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, 0);
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "unknown command 0");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* An attribute whose length runs past the command. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_UNLINK);
	enc_le(&e, SS_A_PATH, 2);
	enc_le(&e, 50, 2);
	enc_bytes(&e, "abc", 3);
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "overruns");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* Half an attribute header. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_UNLINK);
	enc_str(&e, SS_A_PATH, "a");
	enc_le(&e, SS_A_INO, 2);
	enc_le(&e, 8, 1);
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "truncated attribute");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* The same attribute twice. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_UNLINK);
	enc_str(&e, SS_A_PATH, "a");
	enc_str(&e, SS_A_PATH, "b");
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "duplicate attribute path");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* A command without its path. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_UNLINK);
	enc_u64(&e, SS_A_INO, 5);
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "missing attribute path");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* A path with a NUL inside. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_UNLINK);
	enc_attr(&e, SS_A_PATH, "a\0b", 3);
	enc_end(&e);
	expect_error(e.buf, e.len, 0, "contains NUL");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* Bytes after END. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_finish(&e);
	enc_bytes(&e, "x", 1);
	expect_error(e.buf, e.len, 0, "after the end command");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* No END at all. */
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_p(&e, SS_C_UNLINK, "a");
	expect_error(e.buf, e.len, 0, "no end command");
	free(e.buf);
	memset(&e, 0, sizeof(e));

	/* Commands before the snapshot command, and a second one. */
	enc_header(&e, 1);
	enc_p(&e, SS_C_UNLINK, "a");
	enc_finish(&e);
	expect_error(e.buf, e.len, 0, "does not start with");
	free(e.buf);
	memset(&e, 0, sizeof(e));
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_SUBVOL);
	enc_str(&e, SS_A_PATH, "x");
	enc_end(&e);
	enc_finish(&e);
	expect_error(e.buf, e.len, 0, "second subvolume");
	free(e.buf);
}

/*
 * A tiny script for error cases: commands separated by ';', fields by '|':
 * "<cmd>|<path>[|<path2>]" with cmd one of unlink, rmdir, chmod, utimes, update_extent,
 * mkfile (at the path itself), newdir (temp name + rename), rename, link.
 */
static void enc_script(struct enc *e, const char *script)
{
	char *copy = strdup(script), *save = NULL;
	uint64_t ino = 300;

	assert_non_null(copy);
	for (char *op = strtok_r(copy, ";", &save); op; op = strtok_r(NULL, ";", &save)) {
		char *f[3] = { NULL, NULL, NULL };
		int n = 0;

		/* strtok would skip an empty path field: split by hand. */
		f[n++] = op;
		for (char *bar = strchr(op, '|'); bar && n < 3; bar = strchr(bar + 1, '|')) {
			*bar = '\0';
			f[n++] = bar + 1;
		}
		assert_true(n >= 2);
		if (!strcmp(f[0], "unlink"))
			enc_p(e, SS_C_UNLINK, f[1]);
		else if (!strcmp(f[0], "rmdir"))
			enc_p(e, SS_C_RMDIR, f[1]);
		else if (!strcmp(f[0], "chmod"))
			enc_p(e, SS_C_CHMOD, f[1]);
		else if (!strcmp(f[0], "utimes"))
			enc_p(e, SS_C_UTIMES, f[1]);
		else if (!strcmp(f[0], "update_extent"))
			enc_p(e, SS_C_UPDATE_EXTENT, f[1]);
		else if (!strcmp(f[0], "mkfile"))
			enc_p(e, SS_C_MKFILE, f[1]);
		else if (!strcmp(f[0], "newdir"))
			enc_new(e, SS_C_MKDIR, ino++, f[1]);
		else if (!strcmp(f[0], "rename") && n == 3)
			enc_pp(e, SS_C_RENAME, f[1], f[2]);
		else if (!strcmp(f[0], "link") && n == 3)
			enc_pp(e, SS_C_LINK, f[1], f[2]);
		else
			fail_msg("bad test script op '%s'", f[0]);
	}
	free(copy);
}

/* Paths and operations the model refuses: nonsense a kernel stream never has. */
static void test_semantic_errors(void **state)
{
	static const struct {
		const char *script, *why;
	} cases[] = {
		{ "unlink|a/../b", "'.' or '..'" },
		{ "unlink|a/./b", "'.' or '..'" },
		{ "unlink|a//b", "empty path component" },
		{ "unlink|/etc/passwd", "empty path component" },
		{ "unlink|a/", "empty path component" },
		{ "rename|x|", "empty path" },
		{ "unlink|", "not allowed on the root" },
		{ "rename||x", "not allowed on the root" },
		{ "unlink|a;unlink|a", "removed earlier" },
		{ "rename|d|e;chmod|d/x", "removed earlier" },
		{ "chmod|a;mkfile|a", "already exists" },
		{ "rename|d|d/e/f", "into itself" },
		{ "chmod|d/x;rmdir|d", "non-empty directory" },
		{ "chmod|d/x;rename|e|d", "over a non-empty directory" },
		{ "chmod|d/x;unlink|d", "unlink of a directory" },
		{ "update_extent|f;rmdir|f", "rmdir of a non-directory" },
		{ "update_extent|f;chmod|f/x", "through a non-directory" },
		{ "update_extent|f;utimes|f/x", "through a non-directory" },
		{ "newdir|n;utimes|n/x", "no such entry" },
		{ "unlink|a;utimes|a", "removed earlier" },
		{ "utimes|a/../b", "'.' or '..'" },
		{ "chmod|d/x;link|l|d", "hard link to a directory" },
		{ "newdir|n;unlink|n/old", "in a new directory" },
		{ "update_extent|", "non-file" },
		{ "chmod|d/x;update_extent|d", "non-file" },
		{ "unlink|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxx",
		  "longer than 255" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct enc e = { 0 };

		enc_start(&e, 1, SS_C_SNAPSHOT);
		enc_script(&e, cases[i].script);
		enc_finish(&e);
		expect_error(e.buf, e.len, 0, cases[i].why);
		free(e.buf);
	}
}

/* ---- tests: classification rules on synthetic streams ------------------------------------ */

/* Children made under a temp-named directory get the directory's final name. */
static void test_temp_children(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_MKDIR);
	enc_str(&e, SS_A_PATH, "o300-9-0");
	enc_end(&e);
	enc_begin(&e, SS_C_MKDIR);
	enc_str(&e, SS_A_PATH, "o301-9-0");
	enc_end(&e);
	enc_pp(&e, SS_C_RENAME, "o301-9-0", "o300-9-0/sub");
	enc_new(&e, SS_C_MKFILE, 302, "o300-9-0/sub/f");
	enc_pp(&e, SS_C_LINK, "o300-9-0/sub/moved", "old/file");
	enc_p(&e, SS_C_UNLINK, "old/file");
	enc_pp(&e, SS_C_RENAME, "o300-9-0", "top");
	enc_p(&e, SS_C_UTIMES, "top/sub");
	enc_finish(&e);
	check_text(&e, "added\ttop\t-\tdirectory\n"
		       "added\ttop/sub\t-\tdirectory\n"
		       "added\ttop/sub/f\t-\tfile\n"
		       "renamed\ttop/sub/moved\told/file\tfile\n");
}

/* Hardlinks: kept names, a new inode created with two names through its temp name. */
static void test_links(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SNAPSHOT);
	/* New inode whose first name is only a temp name that is unlinked. */
	enc_begin(&e, SS_C_MKFILE);
	enc_str(&e, SS_A_PATH, "o300-9-0");
	enc_end(&e);
	enc_pp(&e, SS_C_LINK, "one", "o300-9-0");
	enc_pp(&e, SS_C_LINK, "two", "o300-9-0");
	enc_p(&e, SS_C_UNLINK, "o300-9-0");
	/* Extra name of an old file; the old file stays. */
	enc_pp(&e, SS_C_LINK, "extra", "keep");
	/* Old file with two new names and its old name gone: one rename, one hardlink. */
	enc_pp(&e, SS_C_LINK, "m1", "l1");
	enc_pp(&e, SS_C_LINK, "m2", "l1");
	enc_p(&e, SS_C_UNLINK, "l1");
	/* A link that comes and goes leaves nothing. */
	enc_pp(&e, SS_C_LINK, "tmp", "keep");
	enc_p(&e, SS_C_UNLINK, "tmp");
	enc_finish(&e);
	check_text(&e, "added\tone\t-\tfile\n"
		       "added\ttwo\t-\thardlink\n"
		       "added\textra\t-\thardlink\n"
		       "renamed\tm1\tl1\tfile\n"
		       "added\tm2\t-\thardlink\n");
}

/* Precedence on one path: Renamed > Added > Deleted > Modified, first position kept. */
static void test_precedence(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_p(&e, SS_C_UPDATE_EXTENT, "m"); /* modified m ... */
	enc_pp(&e, SS_C_RENAME, "m", "o400-1-0");
	enc_p(&e, SS_C_UNLINK, "o400-1-0");	   /* ... then deleted: Deleted m */
	enc_p(&e, SS_C_UNLINK, "x");		   /* deleted x ... */
	enc_new(&e, SS_C_MKDIR, 300, "x");	   /* ... and added again as a dir: Added */
	enc_p(&e, SS_C_CHMOD, "y");		   /* modified y ... */
	enc_pp(&e, SS_C_RENAME, "y", "o401-1-0"); /* ... moved away */
	enc_pp(&e, SS_C_LINK, "y", "z");	   /* z renamed onto y (link + unlink) */
	enc_p(&e, SS_C_UNLINK, "z");
	enc_new(&e, SS_C_MKFILE, 301, "z"); /* and a new z */
	enc_p(&e, SS_C_UNLINK, "o401-1-0");
	enc_finish(&e);
	check_text(&e, "deleted\tm\t-\tfile\n"
		       "added\tx\t-\tdirectory\n"
		       "renamed\ty\tz\tfile\n"
		       "added\tz\t-\tfile\n");
}

/*
 * Modified: data, clone-only, truncate, metadata-only; utimes alone is not a change.
 * Changes to new entries are part of their Added.
 */
static void test_modified(void **state)
{
	static const uint16_t mods[] = {
		SS_C_WRITE, SS_C_CLONE, SS_C_TRUNCATE, SS_C_CHMOD, SS_C_CHOWN,
		SS_C_SET_XATTR, SS_C_REMOVE_XATTR, SS_C_UPDATE_EXTENT,
	};
	struct enc e = { 0 };
	char want[1024] = "";

	enc_start(&e, 1, SS_C_SNAPSHOT);
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		char path[32];

		snprintf(path, sizeof(path), "d/%s", ss_cmd_name(mods[i]));
		enc_p(&e, mods[i], path);
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "modified\t%s\t-\tfile\n",
			 path);
	}
	enc_p(&e, SS_C_UTIMES, "d/only-utimes");
	enc_p(&e, SS_C_UTIMES, "d");
	enc_p(&e, SS_C_CHMOD, ""); /* the root itself */
	strcat(want, "modified\t.\t-\tdirectory\n");
	enc_new(&e, SS_C_MKFILE, 300, "d/new");
	enc_p(&e, SS_C_UPDATE_EXTENT, "d/new");
	enc_p(&e, SS_C_CHMOD, "d/new");
	strcat(want, "added\td/new\t-\tfile\n");
	enc_finish(&e);
	check_text(&e, want);
}

/* A dir moved away and back, and swapped names through temp names: no false reports. */
static void test_round_trips(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_pp(&e, SS_C_RENAME, "d", "o257-1-0");
	enc_pp(&e, SS_C_RENAME, "o257-1-0", "d");
	/* A new dir replaces old "r" and takes r's child under the same name. */
	enc_pp(&e, SS_C_RENAME, "r", "o258-1-0");
	enc_new(&e, SS_C_MKDIR, 300, "r");
	enc_pp(&e, SS_C_RENAME, "o258-1-0/kid", "r/kid");
	enc_p(&e, SS_C_RMDIR, "o258-1-0");
	enc_finish(&e);
	/* r/kid is at the same path: no rename; old r and new r make one Added. */
	check_text(&e, "added\tr\t-\tdirectory\n");
}

/* v2 streams: the data attribute without a length, and the v2 commands. */
static void test_v2(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 2, SS_C_SNAPSHOT);
	enc_begin(&e, SS_C_ENCODED_WRITE);
	enc_str(&e, SS_A_PATH, "enc");
	enc_u64(&e, SS_A_FILE_OFFSET, 0);
	enc_le(&e, SS_A_DATA, 2); /* no length: the rest of the command */
	enc_bytes(&e, "\x01\x02\x03\x04\x05", 5);
	enc_end(&e);
	enc_p(&e, SS_C_FALLOCATE, "fa");
	enc_begin(&e, SS_C_FILEATTR);
	enc_str(&e, SS_A_PATH, "attr");
	enc_u64(&e, SS_A_FILEATTR, 0x10);
	enc_end(&e);
	enc_finish(&e);
	check_text(&e, "modified\tenc\t-\tfile\n"
		       "modified\tfa\t-\tfile\n"
		       "modified\tattr\t-\tfile\n");
}

/* A full (non-incremental) stream: all Added; it cannot name pre-existing entries. */
static void test_full_stream(void **state)
{
	struct enc e = { 0 };

	enc_start(&e, 1, SS_C_SUBVOL);
	enc_new(&e, SS_C_MKDIR, 257, "d");
	enc_new(&e, SS_C_SYMLINK, 258, "d/s");
	enc_new(&e, SS_C_MKSOCK, 259, "sock");
	enc_p(&e, SS_C_CHMOD, "");
	enc_finish(&e);
	check_text(&e, "added\td\t-\tdirectory\nadded\td/s\t-\tsymlink\nadded\tsock\t-\tother\n"
		       "modified\t.\t-\tdirectory\n");

	enc_start(&e, 1, SS_C_SUBVOL);
	enc_p(&e, SS_C_UNLINK, "ghost");
	enc_finish(&e);
	expect_error(e.buf, e.len, 0, "full stream");
	free(e.buf);
}

/*
 * Thousands of old entries renamed while others stay: deletions from the middle of
 * hash-table probe chains, table growth, and lookups that must still find every
 * moved or unmoved entry (a lost one would show up twice or fail as "removed").
 */
static void test_many_renames(void **state)
{
	enum { N = 3000 };
	struct enc e = { 0 };
	size_t cap = N * 48, len = 0;
	char *want = malloc(cap), path[32], to[32];

	assert_non_null(want);
	enc_start(&e, 1, SS_C_SNAPSHOT);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "d%d", i);
		enc_p(&e, SS_C_CHMOD, path);
	}
	for (int i = 1; i < N; i += 2) {
		snprintf(path, sizeof(path), "d%d", i);
		snprintf(to, sizeof(to), "e%d", i);
		enc_pp(&e, SS_C_RENAME, path, to);
	}
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%c%d", i % 2 ? 'e' : 'd', i);
		enc_p(&e, SS_C_CHOWN, path);
		if (i % 2)
			len += (size_t)snprintf(want + len, cap - len, "renamed\te%d\td%d\tdirectory\n",
						i, i);
		else
			len += (size_t)snprintf(want + len, cap - len, "modified\td%d\t-\tfile\n", i);
	}
	enc_finish(&e);
	check_text(&e, want);
	free(want);
}

/* ---- tests: scale and memory bounds --------------------------------------------------------- */

#define BIG_FILES 100000
#define BIG_DIRS 100

/* CPU time of this process: what we spend, whatever else the machine runs. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The shape of a real send of 100k new files: temp name, rename, data, owner, mode, times. */
static void build_big(struct enc *e)
{
	char path[64], tmp[32];
	uint64_t ino = 1000;

	enc_start(e, 1, SS_C_SNAPSHOT);
	for (int d = 0; d < BIG_DIRS; d++) {
		snprintf(path, sizeof(path), "dir%03d", d);
		enc_new(e, SS_C_MKDIR, ino++, path);
		enc_p(e, SS_C_CHOWN, path);
	}
	for (int i = 0; i < BIG_FILES; i++) {
		snprintf(tmp, sizeof(tmp), "o%llu-9-0", (unsigned long long)ino);
		snprintf(path, sizeof(path), "dir%03d/file-%06d.txt", i % BIG_DIRS, i);
		enc_new(e, SS_C_MKFILE, ino++, path);
		enc_p(e, SS_C_UPDATE_EXTENT, path);
		enc_p(e, SS_C_CHOWN, path);
		enc_p(e, SS_C_CHMOD, path);
		enc_p(e, SS_C_UTIMES, path);
	}
	enc_finish(e);
}

static void test_100k_files(void **state)
{
	struct enc e = { 0 };
	char err[256] = "";
	struct diffcalc *dc = diffcalc_new();
	double t0, t1;
	char *json;

	build_big(&e);
	/* Nodes: the root, the dirs, the files, nothing per command (temp names leave none). */
	diffcalc_set_max_nodes(dc, 1 + BIG_FILES + BIG_DIRS);
	t0 = now();
	for (size_t off = 0; off < e.len; off += 65536) {
		size_t n = e.len - off < 65536 ? e.len - off : 65536;

		if (diffcalc_feed(dc, e.buf + off, n, err, sizeof(err)) < 0)
			fail_msg("feed: %s", err);
	}
	if (diffcalc_finish(dc, err, sizeof(err)) < 0)
		fail_msg("finish: %s", err);
	t1 = now();
	print_message("100k files: %zu-byte stream classified in %.3f s CPU\n", e.len, t1 - t0);
	assert_true(t1 - t0 < 2.0);
	assert_int_equal(diffcalc_count(dc), BIG_FILES + BIG_DIRS);
	assert_string_equal(diffcalc_entry(dc, 0)->path, "dir000");
	assert_string_equal(diffcalc_entry(dc, BIG_DIRS)->path, "dir000/file-000000.txt");
	assert_string_equal(diffcalc_entry(dc, BIG_DIRS + BIG_FILES - 1)->path,
			    "dir099/file-099999.txt");
	json = diffcalc_to_json(dc);
	assert_non_null(json);
	free(json);
	diffcalc_free(dc);
	free(e.buf);
}

/*
 * Memory follows the number of changed paths, not the stream: 300k commands on one
 * file and on untouched directories fit in 8 nodes.
 */
static void test_memory_bound(void **state)
{
	struct enc e = { 0 };
	char err[256] = "";
	struct diffcalc *dc = diffcalc_new();

	enc_start(&e, 1, SS_C_SNAPSHOT);
	for (int i = 0; i < 100000; i++) {
		char path[64];

		snprintf(path, sizeof(path), "untouched/dir-%d", i);
		enc_p(&e, SS_C_UPDATE_EXTENT, "a/b/file");
		enc_p(&e, SS_C_UTIMES, path);
		enc_pp(&e, SS_C_RENAME, "a/b/file", i % 2 ? "a/b/file2" : "a/b/file3");
		enc_pp(&e, SS_C_RENAME, i % 2 ? "a/b/file2" : "a/b/file3", "a/b/file");
	}
	enc_finish(&e);
	diffcalc_set_max_nodes(dc, 8);
	if (diffcalc_feed(dc, e.buf, e.len, err, sizeof(err)) < 0 ||
	    diffcalc_finish(dc, err, sizeof(err)) < 0)
		fail_msg("bounded stream failed: %s", err);
	assert_int_equal(diffcalc_count(dc), 1);
	assert_string_equal(diffcalc_entry(dc, 0)->path, "a/b/file");
	diffcalc_free(dc);

	/* More changed paths than the cap: a clean error. */
	dc = diffcalc_new();
	diffcalc_set_max_nodes(dc, 8);
	free(e.buf);
	memset(&e, 0, sizeof(e));
	enc_start(&e, 1, SS_C_SNAPSHOT);
	for (int i = 0; i < 20; i++) {
		char path[32];

		snprintf(path, sizeof(path), "f%d", i);
		enc_p(&e, SS_C_CHMOD, path);
	}
	enc_finish(&e);
	assert_int_equal(diffcalc_feed(dc, e.buf, e.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many changed paths"));
	/* Sticky. */
	assert_int_equal(diffcalc_finish(dc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many changed paths"));
	diffcalc_free(dc);
	free(e.buf);
}

/* The parser alone: callbacks see each command once, in order, with its attributes. */
struct seen {
	int n;
	uint16_t types[8];
	uint64_t ino;
};

static int count_cb(void *arg, const struct ss_cmd *c, char *err, size_t errsz)
{
	struct seen *s = arg;

	if (s->n < 8)
		s->types[s->n] = c->type;
	s->n++;
	if (c->type == SS_C_MKFILE && ss_attr_u64(c, SS_A_INO, &s->ino, err, errsz) < 0)
		return -1;
	if (c->type == SS_C_UNLINK) {
		snprintf(err, errsz, "callback refused");
		return -1;
	}
	return 0;
}

static void test_parser_callbacks(void **state)
{
	struct enc e = { 0 };
	struct seen s = { 0 };
	struct sendstream *ss = sendstream_new(count_cb, &s);
	char err[256];

	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_new(&e, SS_C_MKFILE, 4242, "f");
	enc_finish(&e);
	assert_int_equal(sendstream_feed(ss, e.buf, e.len, err, sizeof(err)), 0);
	assert_int_equal(sendstream_finish(ss, err, sizeof(err)), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.types[0], SS_C_SNAPSHOT);
	assert_int_equal(s.types[1], SS_C_MKFILE);
	assert_int_equal(s.types[2], SS_C_RENAME);
	assert_int_equal(s.types[3], SS_C_END);
	assert_int_equal(s.ino, 4242);
	sendstream_free(ss);

	/* A callback error stops the parser and is what feed reports. */
	free(e.buf);
	memset(&e, 0, sizeof(e));
	memset(&s, 0, sizeof(s));
	ss = sendstream_new(count_cb, &s);
	enc_start(&e, 1, SS_C_SNAPSHOT);
	enc_p(&e, SS_C_UNLINK, "x");
	enc_p(&e, SS_C_UNLINK, "y");
	enc_finish(&e);
	assert_int_equal(sendstream_feed(ss, e.buf, e.len, err, sizeof(err)), -1);
	assert_string_equal(err, "callback refused");
	assert_int_equal(s.n, 2);
	assert_int_equal(sendstream_finish(ss, err, sizeof(err)), -1);
	assert_string_equal(err, "callback refused");
	sendstream_free(ss);
	free(e.buf);
}

/* Known vectors: the stream's crc32c (seed 0, no inversion) of fixed inputs. */
static void test_crc32c(void **state)
{
	/* Standard CRC-32C("123456789") = 0xE3069283 uses seed ~0 and a final inversion. */
	assert_int_equal(ss_crc32c(0xffffffffu, "123456789", 9) ^ 0xffffffffu, 0xE3069283u);
	assert_int_equal(ss_crc32c(0, "", 0), 0);
	/* Chaining equals one pass. */
	assert_int_equal(ss_crc32c(ss_crc32c(0, "1234", 4), "56789", 5),
			 ss_crc32c(0, "123456789", 9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_fixtures_chunked),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_json_not_utf8),
		cmocka_unit_test(test_corrupted_crc),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oversized_command),
		cmocka_unit_test(test_garbage_header),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_temp_children),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_modified),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_v2),
		cmocka_unit_test(test_full_stream),
		cmocka_unit_test(test_parser_callbacks),
		cmocka_unit_test(test_many_renames),
		cmocka_unit_test(test_100k_files),
		cmocka_unit_test(test_memory_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
