/* Unit tests for proto/linebuf.c: bounded NDJSON line framing. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/linebuf.h"

struct lb_fixture {
	struct linebuf lb;
	int sv[2];
};

static int lb_setup_max(void **state, size_t max)
{
	struct lb_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv) < 0 ||
	    linebuf_init(&f->lb, max) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int lb_setup(void **state)
{
	return lb_setup_max(state, NDJSON_LINE_MAX);
}

static int lb_setup_small(void **state)
{
	return lb_setup_max(state, 16);
}

static int lb_teardown(void **state)
{
	struct lb_fixture *f = *state;

	linebuf_free(&f->lb);
	if (f->sv[0] >= 0)
		close(f->sv[0]);
	close(f->sv[1]);
	free(f);
	return 0;
}

static void put(struct lb_fixture *f, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(f->sv[0], s, len);
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

static void puts_(struct lb_fixture *f, const char *s)
{
	put(f, s, strlen(s));
}

static void expect_line(struct linebuf *lb, const char *want)
{
	char *line = NULL;
	size_t len = 12345;

	assert_int_equal(linebuf_next(lb, &line, &len), 1);
	assert_non_null(line);
	assert_int_equal(len, strlen(want));
	assert_string_equal(line, want);
	free(line);
}

static void expect_none(struct linebuf *lb)
{
	char *line = NULL;

	assert_int_equal(linebuf_next(lb, &line, NULL), 0);
	assert_null(line);
}

/* ---- linebuf ------------------------------------------------------------ */

static void test_empty(void **state)
{
	struct lb_fixture *f = *state;

	assert_int_equal(f->lb.max, NDJSON_LINE_MAX);
	expect_none(&f->lb);
}

static void test_split_across_reads(void **state)
{
	struct lb_fixture *f = *state;

	puts_(f, "{\"v\":1,");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 7);
	expect_none(&f->lb);
	puts_(f, "\"id\":2");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 6);
	expect_none(&f->lb);
	puts_(f, "}\n{\"v\"");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 6);
	expect_line(&f->lb, "{\"v\":1,\"id\":2}");
	expect_none(&f->lb);
	puts_(f, ":1}\n");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 4);
	expect_line(&f->lb, "{\"v\":1}");
	expect_none(&f->lb);
	assert_int_equal(f->lb.len, 0);
}

static void test_byte_at_a_time(void **state)
{
	struct lb_fixture *f = *state;
	const char *msg = "hello world\n";

	for (size_t i = 0; i < strlen(msg); i++) {
		put(f, msg + i, 1);
		assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 1);
		if (msg[i] != '\n')
			expect_none(&f->lb);
	}
	expect_line(&f->lb, "hello world");
	expect_none(&f->lb);
}

static void test_several_lines_one_read(void **state)
{
	struct lb_fixture *f = *state;

	puts_(f, "a\nbb\n\nccc\ndd");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 12);
	expect_line(&f->lb, "a");
	expect_line(&f->lb, "bb");
	expect_line(&f->lb, ""); /* an empty line is a line */
	expect_line(&f->lb, "ccc");
	expect_none(&f->lb);
	assert_int_equal(f->lb.len, 2); /* "dd" waits for its newline */
	puts_(f, "d\n");
	assert_true(linebuf_fill(&f->lb, f->sv[1]) > 0);
	expect_line(&f->lb, "ddd");
	expect_none(&f->lb);
}

static void test_crlf_and_binary_kept(void **state)
{
	struct lb_fixture *f = *state;
	char *line = NULL;
	size_t len = 0;

	/* The framer does not interpret bytes: '\r' and NUL stay in the line. */
	put(f, "a\rb\0c\n", 6);
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 6);
	assert_int_equal(linebuf_next(&f->lb, &line, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "a\rb\0c", 5);
	assert_int_equal(line[5], '\0');
	free(line);
}

static void test_eof(void **state)
{
	struct lb_fixture *f = *state;

	puts_(f, "complete\npartial");
	close(f->sv[0]);
	f->sv[0] = -1;
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 16);
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 0); /* EOF */
	expect_line(&f->lb, "complete");
	/* An unterminated last line is never delivered as a request. */
	expect_none(&f->lb);
	assert_int_equal(f->lb.len, 7);
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 0);
}

static void test_fill_error(void **state)
{
	struct lb_fixture *f = *state;

	assert_int_equal(linebuf_fill(&f->lb, -1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(f->lb.len, 0);
}

/* max counts the newline: a line of max-1 bytes + '\n' is the longest accepted. */
static void test_small_exact_max(void **state)
{
	struct lb_fixture *f = *state;

	assert_int_equal(f->lb.max, 16);
	puts_(f, "123456789012345\n");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 16);
	expect_line(&f->lb, "123456789012345");
	expect_none(&f->lb);
}

static void test_small_over_max_with_newline(void **state)
{
	struct lb_fixture *f = *state;
	char *line = NULL;

	puts_(f, "short\n1234567890123456\nafter\n");
	assert_true(linebuf_fill(&f->lb, f->sv[1]) > 0);
	expect_line(&f->lb, "short"); /* lines before the long one are fine */
	assert_int_equal(linebuf_next(&f->lb, &line, NULL), -1);
	assert_null(line);
}

static void test_small_over_max_without_newline(void **state)
{
	struct lb_fixture *f = *state;
	char *line = NULL;

	puts_(f, "123456789012345");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 15);
	assert_int_equal(linebuf_next(&f->lb, &line, NULL), 0); /* might still end */
	puts_(f, "6");
	assert_int_equal(linebuf_fill(&f->lb, f->sv[1]), 1);
	/* 16 bytes and no newline: cannot fit in max any more. */
	assert_int_equal(linebuf_next(&f->lb, &line, NULL), -1);
	assert_null(line);
}

static void test_max_line_full_size(void **state)
{
	struct lb_fixture *f = *state;
	size_t n = NDJSON_LINE_MAX - 1;
	char *big = malloc(n + 1);
	char *line = NULL;
	size_t len = 0, got = 0;
	int r;

	assert_non_null(big);
	memset(big, 'x', n);
	big[n] = '\n';
	/* Writer and reader interleave: the socket buffer is smaller than 1 MiB. */
	while (got < n + 1) {
		ssize_t w = write(f->sv[0], big + got, n + 1 - got > 65536 ? 65536 : n + 1 - got);
		ssize_t rd;
		assert_true(w > 0);
		got += (size_t)w;
		do {
			rd = linebuf_fill(&f->lb, f->sv[1]);
			assert_true(rd > 0);
		} while (f->lb.len < got);
		if (got < n + 1)
			assert_int_equal(linebuf_next(&f->lb, &line, NULL), 0);
	}
	assert_true(f->lb.cap <= NDJSON_LINE_MAX + 1);
	r = linebuf_next(&f->lb, &line, &len);
	assert_int_equal(r, 1);
	assert_int_equal(len, n);
	assert_int_equal(line[0], 'x');
	assert_int_equal(line[n - 1], 'x');
	assert_int_equal(line[n], '\0');
	free(line);
	free(big);
}

static void test_over_max_full_size(void **state)
{
	struct lb_fixture *f = *state;
	size_t total = NDJSON_LINE_MAX + 100, sent = 0;
	char *big = malloc(total);
	char *line = NULL;
	int r = 0;

	assert_non_null(big);
	memset(big, 'y', total);
	/* No newline at all: the reader must give up at max, not grow without bound. */
	while (sent < total && r == 0) {
		ssize_t w = write(f->sv[0], big + sent,
				  total - sent > 65536 ? 65536 : total - sent);
		assert_true(w > 0);
		sent += (size_t)w;
		while ((r = linebuf_next(&f->lb, &line, NULL)) == 0 && f->lb.len < sent) {
			ssize_t rd = linebuf_fill(&f->lb, f->sv[1]);
			if (rd < 0) {
				assert_int_equal(errno, EMSGSIZE);
				break;
			}
			assert_true(rd > 0);
		}
	}
	assert_int_equal(linebuf_next(&f->lb, &line, NULL), -1);
	assert_null(line);
	assert_true(f->lb.len >= NDJSON_LINE_MAX);
	assert_true(f->lb.cap <= NDJSON_LINE_MAX + 1);
	free(big);
}

static void test_free_twice(void **state)
{
	struct linebuf lb;

	assert_int_equal(linebuf_init(&lb, 100), 0);
	assert_non_null(lb.buf);
	linebuf_free(&lb);
	assert_null(lb.buf);
	assert_int_equal(lb.len, 0);
	linebuf_free(&lb); /* harmless */
	assert_null(lb.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_split_across_reads, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_byte_at_a_time, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_several_lines_one_read, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_crlf_and_binary_kept, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_eof, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_fill_error, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_small_exact_max, lb_setup_small, lb_teardown),
		cmocka_unit_test_setup_teardown(test_small_over_max_with_newline, lb_setup_small,
						lb_teardown),
		cmocka_unit_test_setup_teardown(test_small_over_max_without_newline, lb_setup_small,
						lb_teardown),
		cmocka_unit_test_setup_teardown(test_max_line_full_size, lb_setup, lb_teardown),
		cmocka_unit_test_setup_teardown(test_over_max_full_size, lb_setup, lb_teardown),
		cmocka_unit_test(test_free_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
