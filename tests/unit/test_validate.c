/* Unit tests for common/validate.c: snapshot ids, ws ids, path normalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/validate.h"

/* ---- snapshot ids ------------------------------------------------------- */

static void test_snapshot_id_valid_examples(void **state)
{
	static const char *const ok[] = {
		"a",
		"Z",
		"0",
		"v1",
		"before-refactor",
		"snap_2026-05-28T03:04:05Z",
		"user@host",
		"a+b",
		"x.y.z",
		"a..b",
		"trailing.",
		"trailing-",
		"_leading_underscore",
		":colon",
		"@at",
		"+plus",
		"ABCdef012._:@+-",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!snapshot_id_valid(ok[i]))
			fail_msg("rejected valid id '%s'", ok[i]);
	}
}

static void test_snapshot_id_invalid_examples(void **state)
{
	static const char *const bad[] = {
		"",
		".",
		"..",
		"a/b",
		"/",
		"/abs",
		".hidden",
		"-x",
		"--force",
		"has space",
		" lead",
		"trail ",
		"tab\there",
		"new\nline",
		"cr\r",
		"del\x7f",
		"esc\x1b[0m",
		"caf\xc3\xa9",   /* UTF-8 é */
		"\xe2\x80\x8b",  /* zero-width space */
		"\xff",
		"a\\b",
		"a*b",
		"a?b",
		"a'b",
		"a\"b",
		"$(id)",
		"a;b",
		"a,b",
		"a=b",
		"a%b",
		"a~b",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (snapshot_id_valid(bad[i]))
			fail_msg("accepted invalid id #%zu '%s'", i, bad[i]);
	}
	assert_false(snapshot_id_valid(NULL));
}

static void test_snapshot_id_every_byte(void **state)
{
	const char *allowed = "._:@+-";

	for (int c = 1; c < 256; c++) {
		char id[3] = { 'a', (char)c, '\0' };
		bool expect = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || strchr(allowed, c) != NULL;
		if (snapshot_id_valid(id) != expect)
			fail_msg("byte 0x%02x: expected %s", c, expect ? "valid" : "invalid");
	}
}

static void test_snapshot_id_length(void **state)
{
	char id[301];

	memset(id, 'a', sizeof(id));
	id[SNAPSHOT_ID_MAX] = '\0';
	assert_int_equal(strlen(id), 128);
	assert_true(snapshot_id_valid(id));
	id[SNAPSHOT_ID_MAX] = 'a';
	id[SNAPSHOT_ID_MAX + 1] = '\0';
	assert_int_equal(strlen(id), 129);
	assert_false(snapshot_id_valid(id));
	memset(id, 'a', sizeof(id));
	id[300] = '\0';
	assert_false(snapshot_id_valid(id));
	/* 127 characters and one bad one at the end */
	memset(id, 'a', sizeof(id));
	id[127] = '/';
	id[128] = '\0';
	assert_false(snapshot_id_valid(id));
}

/* ---- ws ids ------------------------------------------------------------- */

static void test_ws_id(void **state)
{
	static const char *const ok[] = { "ws-000000", "ws-abcdef", "ws-0a1b2c", "ws-ffffff" };
	static const char *const bad[] = {
		"", "ws-", "ws-00000", "ws-0000000", "ws-ABCDEF", "ws-abcdeg", "WS-abcdef",
		"xs-abcdef", "ws_abcdef", "ws-abc de", "ws-abcde/", "ws-../..", "ws-abcdef\n",
		"ws-\xc3\xa9\xc3\xa9\xc3\xa9", "abcdef",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!ws_id_valid(ok[i]))
			fail_msg("rejected valid ws id '%s'", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ws_id_valid(bad[i]))
			fail_msg("accepted invalid ws id '%s'", bad[i]);
	}
	assert_false(ws_id_valid(NULL));
	assert_int_equal(strlen("ws-abcdef"), WS_ID_LEN);
}

/* ---- path_normalize ----------------------------------------------------- */

static void expect_norm(const char *in, const char *want)
{
	char out[WS_PATH_MAX];

	memset(out, 'X', sizeof(out));
	if (!path_normalize(in, out, sizeof(out)))
		fail_msg("path_normalize('%s') failed, want '%s'", in, want);
	assert_string_equal(out, want);
}

static void expect_norm_fail(const char *in)
{
	char out[WS_PATH_MAX];

	if (path_normalize(in, out, sizeof(out)))
		fail_msg("path_normalize('%s') succeeded with '%s'", in, out);
}

static void test_path_normalize_ok(void **state)
{
	expect_norm("/", "/");
	expect_norm("//", "/");
	expect_norm("///", "/");
	expect_norm("/.", "/");
	expect_norm("/./", "/");
	expect_norm("/./.", "/");
	expect_norm("/home/user/ws", "/home/user/ws");
	expect_norm("/home/user/ws/", "/home/user/ws");
	expect_norm("/home//user///ws//", "/home/user/ws");
	expect_norm("//home/user", "/home/user");
	expect_norm("/home/./user/./ws/.", "/home/user/ws");
	expect_norm("/a/.b/c.", "/a/.b/c.");     /* only "." itself is dropped */
	expect_norm("/a/.../b", "/a/.../b");     /* "..." is a name */
	expect_norm("/a/..b/b..", "/a/..b/b.."); /* so is "..b" */
	expect_norm("/a b/c\xc3\xa9", "/a b/c\xc3\xa9");
}

static void test_path_normalize_rejects(void **state)
{
	char out[8];

	expect_norm_fail("");
	expect_norm_fail("relative");
	expect_norm_fail("./x");
	expect_norm_fail("../x");
	expect_norm_fail("~/x");
	expect_norm_fail("/..");
	expect_norm_fail("/../etc");
	expect_norm_fail("/a/..");
	expect_norm_fail("/a/../b");
	expect_norm_fail("/a/b/..//");
	expect_norm_fail("/a\n/b");
	expect_norm_fail("/a/b\t");
	expect_norm_fail("/\x01");
	expect_norm_fail("/a\x7f");
	expect_norm_fail("/a\x1b[31m");
	assert_false(path_normalize(NULL, out, sizeof(out)));
}

static void test_path_normalize_overflow(void **state)
{
	char out[8];
	char big[WS_PATH_MAX + 16];

	/* "/abcdef" needs 8 bytes with the NUL */
	memset(out, 'X', sizeof(out));
	assert_true(path_normalize("/abcdef", out, 8));
	assert_string_equal(out, "/abcdef");
	assert_false(path_normalize("/abcdefg", out, 8));
	assert_false(path_normalize("/abc/def", out, 8));
	/* duplicates collapse before the size check */
	assert_true(path_normalize("//abc//de//", out, 8));
	assert_string_equal(out, "/abc/de");
	/* outsz 2 fits only "/" */
	assert_true(path_normalize("/", out, 2));
	assert_string_equal(out, "/");
	assert_true(path_normalize("/./", out, 2));
	assert_false(path_normalize("/a", out, 2));
	assert_false(path_normalize("/", out, 1));
	assert_false(path_normalize("/", out, 0));
	/* An output buffer must never be overrun: canary after a short buffer. */
	{
		char guard[16];
		memset(guard, 'G', sizeof(guard));
		assert_false(path_normalize("/abcdefghijklmnop", guard, 8));
		for (size_t i = 8; i < sizeof(guard); i++)
			assert_int_equal(guard[i], 'G');
	}
	/* WS_PATH_MAX-sized input */
	big[0] = '/';
	memset(big + 1, 'a', WS_PATH_MAX - 2);
	big[WS_PATH_MAX - 1] = '\0';
	{
		char o2[WS_PATH_MAX];
		assert_true(path_normalize(big, o2, sizeof(o2)));
		assert_int_equal(strlen(o2), WS_PATH_MAX - 1);
		big[WS_PATH_MAX - 1] = 'a';
		big[WS_PATH_MAX] = '\0';
		assert_false(path_normalize(big, o2, sizeof(o2)));
	}
}

static void test_path_normalize_idempotent(void **state)
{
	static const char *const in[] = { "/a//b/./c/", "/", "//x/./y/", "/very/long/./path/" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char a[256], b[256];
		assert_true(path_normalize(in[i], a, sizeof(a)));
		assert_true(path_normalize(a, b, sizeof(b)));
		assert_string_equal(a, b);
	}
}

/* ---- path_is_within ----------------------------------------------------- */

static void test_path_is_within(void **state)
{
	assert_true(path_is_within("/a", "/a"));
	assert_true(path_is_within("/a/b", "/a"));
	assert_true(path_is_within("/a/b/c", "/a"));
	assert_true(path_is_within("/a/b/c", "/a/b"));
	assert_false(path_is_within("/ab", "/a"));
	assert_false(path_is_within("/ab/c", "/a"));
	assert_false(path_is_within("/a", "/ab"));
	assert_false(path_is_within("/a", "/a/b"));
	assert_false(path_is_within("/b", "/a"));
	assert_false(path_is_within("/a-b", "/a"));
	assert_false(path_is_within("/a.b", "/a"));
	/* the root contains every absolute path */
	assert_true(path_is_within("/", "/"));
	assert_true(path_is_within("/a", "/"));
	assert_true(path_is_within("/a/b", "/"));
	assert_false(path_is_within("", "/"));
	assert_false(path_is_within("a", "/"));
	assert_false(path_is_within("/", "/a"));
	/* mount-point-like prefixes */
	assert_true(path_is_within("/mnt/btrfs-workspace/ws-abcdef",
				   "/mnt/btrfs-workspace"));
	assert_false(path_is_within("/mnt/btrfs-workspace2/ws-abcdef",
				    "/mnt/btrfs-workspace"));
}

/* ---- utf8_valid --------------------------------------------------------- */

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "", true },
		{ "plain ascii", true },
		{ "caf\xc3\xa9", true },                 /* U+00E9 */
		{ "\xe2\x82\xac", true },               /* U+20AC euro */
		{ "\xf0\x9f\x98\x80", true },           /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", true },           /* U+10FFFF, the last code point */
		{ "\xed\x9f\xbf", true },               /* U+D7FF, just below surrogates */
		{ "\xee\x80\x80", true },               /* U+E000, just above */
		{ "\xc2\x80", true },                   /* U+0080, smallest 2-byte */
		{ "\xe0\xa0\x80", true },               /* U+0800, smallest 3-byte */
		{ "\xf0\x90\x80\x80", true },           /* U+10000, smallest 4-byte */
		{ "\x80", false },                      /* lone continuation */
		{ "\xbf", false },
		{ "\xc0\xaf", false },                  /* overlong '/' */
		{ "\xc1\xbf", false },                  /* overlong */
		{ "\xe0\x80\xaf", false },              /* overlong 3-byte '/' */
		{ "\xe0\x9f\xbf", false },              /* overlong U+07FF */
		{ "\xf0\x80\x80\xaf", false },          /* overlong 4-byte '/' */
		{ "\xf0\x8f\xbf\xbf", false },          /* overlong U+FFFF */
		{ "\xed\xa0\x80", false },              /* U+D800 surrogate */
		{ "\xed\xbf\xbf", false },              /* U+DFFF surrogate */
		{ "\xf4\x90\x80\x80", false },          /* U+110000 */
		{ "\xf5\x80\x80\x80", false },
		{ "\xff", false },
		{ "\xfe", false },
		{ "\xc3", false },                      /* truncated at the end */
		{ "ab\xe2\x82", false },
		{ "\xf0\x9f\x98", false },
		{ "\xc3(", false },                     /* bad continuation */
		{ "\xe2\x28\xa1", false },
		{ "\xf0\x9f\x28\x80", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
			fail_msg("utf8_valid case %zu: expected %s", i,
				 cases[i].ok ? "valid" : "invalid");
	}
	/* only len bytes are looked at: a valid prefix of an invalid buffer */
	assert_true(utf8_valid("ab\xff", 2));
	assert_false(utf8_valid("ab\xff", 3));
	/* a sequence cut by len is invalid even if the buffer continues */
	assert_false(utf8_valid("\xc3\xa9", 1));
	assert_true(utf8_valid("\xc3\xa9", 2));
	/* embedded NUL is a valid code point; length decides */
	assert_true(utf8_valid("a\0b", 3));
	assert_true(utf8_valid(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_id_valid_examples),
		cmocka_unit_test(test_snapshot_id_invalid_examples),
		cmocka_unit_test(test_snapshot_id_every_byte),
		cmocka_unit_test(test_snapshot_id_length),
		cmocka_unit_test(test_ws_id),
		cmocka_unit_test(test_path_normalize_ok),
		cmocka_unit_test(test_path_normalize_rejects),
		cmocka_unit_test(test_path_normalize_overflow),
		cmocka_unit_test(test_path_normalize_idempotent),
		cmocka_unit_test(test_path_is_within),
		cmocka_unit_test(test_utf8_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
