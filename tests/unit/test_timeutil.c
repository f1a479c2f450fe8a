/* Unit tests for common/timeutil.c: RFC 3339 format and strict parse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/timeutil.h"

static void expect_parse(const char *s, time_t sec, long nsec)
{
	struct timespec ts = { -1, -1 };

	if (!rfc3339_parse(s, &ts))
		fail_msg("rfc3339_parse('%s') failed", s);
	assert_int_equal(ts.tv_sec, sec);
	assert_int_equal(ts.tv_nsec, nsec);
}

static void expect_reject(const char *s)
{
	struct timespec ts = { 12345, 678 };

	if (rfc3339_parse(s, &ts))
		fail_msg("rfc3339_parse('%s') accepted: %lld.%09ld", s, (long long)ts.tv_sec,
			 ts.tv_nsec);
	/* the output is left alone on failure */
	assert_int_equal(ts.tv_sec, 12345);
	assert_int_equal(ts.tv_nsec, 678);
}

static void test_format_known(void **state)
{
	char buf[RFC3339_MAX];
	struct timespec ts = { 0, 0 };

	rfc3339_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
	ts.tv_sec = 1779937445; /* 2026-05-28T03:04:05Z */
	ts.tv_nsec = 123456789;
	rfc3339_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2026-05-28T03:04:05.123456789Z");
	ts.tv_nsec = 1;
	rfc3339_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2026-05-28T03:04:05.000000001Z");
	ts.tv_sec = 951782400; /* leap day 2000-02-29 */
	ts.tv_nsec = 999999999;
	rfc3339_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2000-02-29T00:00:00.999999999Z");
	assert_true(strlen(buf) < RFC3339_MAX);
}

static void test_format_truncates_safely(void **state)
{
	char buf[12];
	struct timespec ts = { 1779937445, 5 };

	memset(buf, 'X', sizeof(buf));
	rfc3339_format(&ts, buf, 11);
	assert_string_equal(buf, "2026-05-28");
	assert_int_equal(buf[11], 'X');
}

static void test_now(void **state)
{
	char buf[RFC3339_MAX];
	struct timespec ts, before;

	clock_gettime(CLOCK_REALTIME, &before);
	rfc3339_now(buf, sizeof(buf));
	assert_int_equal(strlen(buf), 30);
	assert_true(rfc3339_parse(buf, &ts));
	assert_true(ts.tv_sec >= before.tv_sec && ts.tv_sec <= before.tv_sec + 5);
	assert_true(mono_ms() > 0);
}

static void test_roundtrip(void **state)
{
	static const struct timespec cases[] = {
		{ 0, 0 },
		{ 0, 1 },
		{ 1, 999999999 },
		{ 1779937445, 123456789 },
		{ 951782400, 500000000 },
		{ 4102444799, 42 },      /* 2099-12-31T23:59:59 */
		{ 253402300799, 999 },   /* 9999-12-31T23:59:59 */
	};
	unsigned int seed = 12345;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[RFC3339_MAX];
		struct timespec back;
		rfc3339_format(&cases[i], buf, sizeof(buf));
		if (!rfc3339_parse(buf, &back))
			fail_msg("cannot parse own output '%s'", buf);
		assert_int_equal(back.tv_sec, cases[i].tv_sec);
		assert_int_equal(back.tv_nsec, cases[i].tv_nsec);
	}
	for (int i = 0; i < 2000; i++) {
		struct timespec ts, back;
		char buf[RFC3339_MAX];
		ts.tv_sec = (time_t)(rand_r(&seed) % 2000000000) * 2 + rand_r(&seed) % 2;
		ts.tv_nsec = rand_r(&seed) % 1000000000;
		rfc3339_format(&ts, buf, sizeof(buf));
		assert_true(rfc3339_parse(buf, &back));
		assert_int_equal(back.tv_sec, ts.tv_sec);
		assert_int_equal(back.tv_nsec, ts.tv_nsec);
	}
}

static void test_parse_variants(void **state)
{
	const time_t t = 1779937445; /* 2026-05-28T03:04:05Z */

	expect_parse("2026-05-28T03:04:05Z", t, 0);
	expect_parse("2026-05-28t03:04:05z", t, 0);
	expect_parse("2026-05-28 03:04:05Z", t, 0);
	expect_parse("2026-05-28T03:04:05.5Z", t, 500000000);
	expect_parse("2026-05-28T03:04:05.123Z", t, 123000000);
	expect_parse("2026-05-28T03:04:05.123456Z", t, 123456000);
	expect_parse("2026-05-28T03:04:05.000000001Z", t, 1);
	/* more than nanosecond precision is truncated, not rounded */
	expect_parse("2026-05-28T03:04:05.1234567899Z", t, 123456789);
	/* offsets: local time minus offset is UTC */
	expect_parse("2026-05-28T11:04:05+08:00", t, 0);
	expect_parse("2026-05-28T11:04:05.25+08:00", t, 250000000);
	expect_parse("2026-05-27T22:04:05-05:00", t, 0);
	expect_parse("2026-05-28T08:34:05+05:30", t, 0);
	expect_parse("2026-05-28T03:04:05+00:00", t, 0);
	expect_parse("2026-05-28T03:04:05-00:00", t, 0);
	/* offset crossing a year boundary */
	expect_parse("2027-01-01T07:00:00+08:00", 1798758000, 0);
	/* leap day */
	expect_parse("2000-02-29T00:00:00Z", 951782400, 0);
	expect_parse("2024-02-29T00:00:00Z", 1709164800, 0);
	expect_parse("2026-01-31T00:00:00Z", 1769817600, 0);
	expect_parse("2026-12-31T23:59:59Z", 1798761599, 0);
	/* a leap second is accepted and lands on the following second */
	expect_parse("2016-12-31T23:59:60Z", 1483228800, 0);
	expect_parse("1970-01-01T00:00:00Z", 0, 0);
}

static void test_parse_rejects(void **state)
{
	expect_reject("");
	expect_reject("garbage");
	expect_reject("2026-05-28");
	expect_reject("2026-05-28T03:04");
	expect_reject("2026-05-28T03:04:05");       /* no zone */
	expect_reject("2026-05-28T03:04:05Zjunk");  /* trailing text */
	expect_reject("2026-05-28T03:04:05Z ");
	expect_reject("2026-05-28T03:04:05+08:00x");
	expect_reject("2026-05-28T03:04:05.Z");     /* empty fraction */
	expect_reject("2026-05-28T03:04:05.12a3Z");
	expect_reject("2026-05-28T03:04:05+0800");  /* colon required */
	expect_reject("2026-05-28T03:04:05+8:00");
	expect_reject("2026-05-28T03:04:05+24:00");
	expect_reject("2026-05-28T03:04:05+08:60");
	expect_reject("2026-05-28X03:04:05Z");
	expect_reject("2026/05/28T03:04:05Z");
	expect_reject("26-05-28T03:04:05Z");
	expect_reject("2026-5-28T03:04:05Z");
	expect_reject("2026-00-28T03:04:05Z");
	expect_reject("2026-13-28T03:04:05Z");
	expect_reject("2026-05-00T03:04:05Z");
	expect_reject("2026-05-32T03:04:05Z");
	expect_reject("2026-05-28T24:04:05Z");
	expect_reject("2026-05-28T03:60:05Z");
	expect_reject("2026-05-28T03:04:61Z");
	expect_reject(" 2026-05-28T03:04:05Z");
	expect_reject("+2026-05-28T03:04:05Z");
	expect_reject("2026-05-28T03:04:05UTC");
	/* days that do not exist are not silently moved into the next month */
	expect_reject("2026-02-29T00:00:00Z");
	expect_reject("2026-02-30T00:00:00Z");
	expect_reject("2026-04-31T00:00:00Z");
	expect_reject("2026-06-31T00:00:00Z");
	expect_reject("2026-09-31T00:00:00Z");
	expect_reject("2026-11-31T00:00:00Z");
	expect_reject("1900-02-29T00:00:00Z");
	expect_reject("2100-02-29T00:00:00Z");
	{
		struct timespec ts;
		assert_false(rfc3339_parse(NULL, &ts));
	}
}

static void test_mono_ms_monotonic(void **state)
{
	long long a = mono_ms();
	struct timespec d = { 0, 20 * 1000 * 1000 };
	long long b;

	nanosleep(&d, NULL);
	b = mono_ms();
	assert_true(b >= a + 19);
	assert_true(b < a + 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_known),
		cmocka_unit_test(test_format_truncates_safely),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_parse_variants),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_mono_ms_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
