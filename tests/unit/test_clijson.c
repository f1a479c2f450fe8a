/* Unit tests for the CLI's JSON document helpers: cli/jsonbuild.c, cli/units.c, cli/jsonout.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/jsonbuild.h"
#include "cli/jsonout.h"
#include "cli/units.h"

/* json_print_pretty of doc, as a string (caller frees). */
static char *pretty(const cJSON *doc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	json_print_pretty(f, doc);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_jo_chain(void **state)
{
	cJSON *o = cJSON_CreateObject(), *inner = cJSON_CreateArray();
	char *text;

	(void)state;
	cJSON_AddItemToArray(inner, cJSON_CreateString("k1"));
	o = jo_str(o, "ws_id", "ws-abc123");
	o = jo_str(o, "reason", NULL);
	o = jo_bool(o, "skipped", true);
	o = jo_num(o, "steps", 3);
	o = jo_dup(o, "removed", inner);
	o = jo_dup(o, "space", NULL);
	assert_non_null(o);
	text = pretty(o);
	assert_string_equal(text, "{\n"
				  "  \"ws_id\": \"ws-abc123\",\n"
				  "  \"reason\": null,\n"
				  "  \"skipped\": true,\n"
				  "  \"steps\": 3,\n"
				  "  \"removed\": [\n"
				  "    \"k1\"\n"
				  "  ],\n"
				  "  \"space\": null\n"
				  "}\n");
	/* jo_dup copied: the original is still ours */
	assert_int_equal(cJSON_GetArraySize(inner), 1);
	free(text);
	cJSON_Delete(inner);
	cJSON_Delete(o);
}

static void test_jo_null_propagates(void **state)
{
	cJSON *o = NULL;

	(void)state;
	o = jo_str(o, "a", "b");
	o = jo_bool(o, "c", false);
	o = jo_num(o, "d", 1);
	o = jo_dup(o, "e", NULL);
	assert_null(o);
}

static void test_jo_empty_containers(void **state)
{
	cJSON *o = cJSON_CreateObject(), *empty = cJSON_CreateArray();
	char *text;

	(void)state;
	o = jo_dup(o, "results", empty);
	text = pretty(o);
	assert_string_equal(text, "{\n  \"results\": []\n}\n");
	free(text);
	cJSON_Delete(empty);
	cJSON_Delete(o);
}

static void check_bytes(uint64_t n, const char *want)
{
	char buf[32];

	units_bytes(n, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_units_bytes(void **state)
{
	char tiny[4];

	(void)state;
	check_bytes(0, "0 B");
	check_bytes(1023, "1023 B");
	check_bytes(1024, "1.0 KiB");
	check_bytes(1536, "1.5 KiB");
	check_bytes(12897485, "12.3 MiB");
	check_bytes(1048575, "1.0 MiB"); /* 1023.999 KiB would print as "1024.0 KiB" */
	check_bytes(1024ULL * 1024 * 1024 * 3, "3.0 GiB");
	check_bytes(UINT64_MAX, "16.0 EiB");
	units_bytes(123456789, tiny, sizeof(tiny)); /* truncated, still terminated */
	assert_int_equal(strlen(tiny), 3);
	units_bytes(5, tiny, 0); /* no room: nothing written */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jo_chain),
		cmocka_unit_test(test_jo_null_propagates),
		cmocka_unit_test(test_jo_empty_containers),
		cmocka_unit_test(test_units_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
