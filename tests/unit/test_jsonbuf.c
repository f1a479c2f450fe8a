/* Unit tests for common/jsonbuf.c: the text must be what cJSON prints for the same value. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "common/jsonbuf.h"

static void assert_str_like_cjson(const char *s)
{
	struct jsonbuf b;
	cJSON *j = cJSON_CreateString(s);
	char *want = cJSON_PrintUnformatted(j), *got;
	size_t len;

	jb_init(&b);
	jb_str(&b, s);
	got = jb_finish(&b, &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(got));
	assert_string_equal(got, want);
	free(got);
	free(want);
	cJSON_Delete(j);
}

static void test_strings_escape_as_cjson(void **state)
{
	char all[256];

	(void)state;
	assert_str_like_cjson("");
	assert_str_like_cjson("plain text");
	assert_str_like_cjson("quote \" backslash \\ slash /");
	assert_str_like_cjson("\b\f\n\r\t\x01\x1f\x7f");
	assert_str_like_cjson("utf-8: h\xc3\xa9llo \xe2\x86\x92 \xf0\x9f\x98\x80");
	assert_str_like_cjson("\xff\xfe not utf-8");
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	assert_str_like_cjson(all);
}

static void test_document(void **state)
{
	struct jsonbuf b;
	char *text;
	size_t len;
	cJSON *j;

	(void)state;
	jb_init(&b);
	jb_lit(&b, "{\"a\":");
	jb_str(&b, NULL);
	jb_lit(&b, ",\"b\":");
	jb_bool(&b, true);
	jb_lit(&b, ",\"c\":[");
	for (int i = 0; i < 5000; i++) { /* grows the buffer many times */
		if (i)
			jb_raw(&b, ",", 1);
		jb_str(&b, "x\ny");
	}
	jb_lit(&b, "]}");
	text = jb_finish(&b, &len);
	assert_non_null(text);
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "a")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "b")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "c")), 5000);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "c"), 4999)->valuestring, "x\ny");
	cJSON_Delete(j);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_escape_as_cjson),
		cmocka_unit_test(test_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
