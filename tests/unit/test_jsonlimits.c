/* Unit tests for common/jsonlimits.c: the nesting pre-scan in front of cJSON. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/jsonlimits.h"

static bool ok(const char *s, int max)
{
	return json_depth_ok(s, strlen(s), max);
}

static char *nested(int depth, char open, char close)
{
	char *s = malloc((size_t)depth * 2 + 1);

	assert_non_null(s);
	for (int i = 0; i < depth; i++) {
		s[i] = open;
		s[2 * depth - 1 - i] = close;
	}
	s[2 * depth] = '\0';
	return s;
}

static void test_flat(void **state)
{
	assert_true(ok("", 0));
	assert_true(ok("1", 0));
	assert_true(ok("\"x\"", 0));
	assert_false(ok("{}", 0));
	assert_true(ok("{}", 1));
	assert_true(ok("{\"v\":1,\"id\":2,\"op\":\"list\"}", 1));
	assert_false(ok("{\"a\":{}}", 1));
	assert_true(ok("{\"a\":{},\"b\":[],\"c\":{}}", 2)); /* siblings do not add up */
}

static void test_exact_limit(void **state)
{
	char *s = nested(JSON_MAX_DEPTH, '[', ']');
	char *t = nested(JSON_MAX_DEPTH + 1, '{', '}');
	char *u = nested(100000, '[', ']');

	assert_true(json_depth_ok(s, strlen(s), JSON_MAX_DEPTH));
	assert_false(json_depth_ok(s, strlen(s), JSON_MAX_DEPTH - 1));
	assert_false(json_depth_ok(t, strlen(t), JSON_MAX_DEPTH));
	assert_true(json_depth_ok(t, strlen(t), JSON_MAX_DEPTH + 1));
	assert_false(json_depth_ok(u, strlen(u), JSON_MAX_DEPTH));
	/* only opening counts: an unclosed deep prefix is refused too */
	assert_false(json_depth_ok(u, 100000, JSON_MAX_DEPTH));
	free(s);
	free(t);
	free(u);
}

static void test_strings_skipped(void **state)
{
	/* brackets inside strings are data */
	assert_true(ok("{\"k\":\"[[[[[[[[{{{{{{{\"}", 1));
	/* escaped quotes do not end the string */
	assert_true(ok("{\"k\":\"\\\"[[[[[[\"}", 1));
	assert_false(ok("{\"k\":\"\\\\\",\"x\":[[]]}", 2)); /* "\\" ends; the rest counts */
	assert_true(ok("{\"k\":\"\\\\\",\"x\":[[]]}", 3));
	/* an unterminated string hides the rest (the parser rejects it anyway) */
	assert_true(ok("{\"k\":\"[[[[[[", 1));
	/* a trailing backslash at the very end must not read past len */
	assert_true(json_depth_ok("\"\\", 2, 0));
}

static void test_stray_closers(void **state)
{
	/* Extra closers must not bank credit for deeper nesting later. */
	assert_false(ok("]]]]]]]][[", 1));
	assert_false(ok("}}}}{{{", 2));
	assert_true(ok("}}}}{{{", 3));
}

static void test_len_bounds(void **state)
{
	/* len, not the NUL, ends the scan */
	assert_true(json_depth_ok("[[[[", 2, 2));
	assert_false(json_depth_ok("[[[[", 3, 2));
	assert_false(json_depth_ok("[\0[[", 4, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_exact_limit),
		cmocka_unit_test(test_strings_skipped),
		cmocka_unit_test(test_stray_closers),
		cmocka_unit_test(test_len_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
