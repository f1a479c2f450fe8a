/* JSON text in a growing buffer (see jsonbuf.h). */
#include "common/jsonbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_init(struct jsonbuf *b)
{
	memset(b, 0, sizeof(*b));
}

static bool jb_reserve(struct jsonbuf *b, size_t n)
{
	size_t ncap;
	char *np;

	if (b->oom)
		return false;
	if (n <= b->cap - b->len && b->cap)
		return true;
	ncap = b->cap ? b->cap : 4096;
	while (ncap - b->len <= n) {
		if (ncap > ((size_t)-1) / 2) {
			b->oom = true;
			return false;
		}
		ncap *= 2;
	}
	np = realloc(b->p, ncap);
	if (!np) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void jb_raw(struct jsonbuf *b, const char *s, size_t n)
{
	if (!jb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void jb_lit(struct jsonbuf *b, const char *s)
{
	jb_raw(b, s, strlen(s));
}

/* cJSON's escapes: the two-character forms where JSON has them, \u00XX for other
 * control characters, every other byte (UTF-8 included) as it is. */
static size_t escape_one(unsigned char c, char out[7])
{
	static const char two[] = { '"', '"', '\\', '\\', '\b', 'b', '\f', 'f',
				    '\n', 'n', '\r', 'r', '\t', 't' };

	for (size_t i = 0; i < sizeof(two); i += 2) {
		if (c == (unsigned char)two[i]) {
			out[0] = '\\';
			out[1] = two[i + 1];
			return 2;
		}
	}
	if (c < 0x20) {
		snprintf(out, 7, "\\u%04x", c);
		return 6;
	}
	out[0] = (char)c;
	return 1;
}

void jb_str(struct jsonbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0;

	if (!s) {
		jb_lit(b, "null");
		return;
	}
	jb_raw(b, "\"", 1);
	for (size_t i = 0;; i++) {
		char esc[7];
		size_t n;

		/* Copy plain runs in one go; only special bytes take the slow path. */
		if (u[i] != '\0' && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
			run++;
			continue;
		}
		jb_raw(b, s + i - run, run);
		run = 0;
		if (u[i] == '\0')
			break;
		n = escape_one(u[i], esc);
		jb_raw(b, esc, n);
	}
	jb_raw(b, "\"", 1);
}

void jb_bool(struct jsonbuf *b, bool v)
{
	jb_lit(b, v ? "true" : "false");
}

char *jb_finish(struct jsonbuf *b, size_t *len)
{
	char *p;

	if (!jb_reserve(b, 1)) {
		jb_free(b);
		return NULL;
	}
	b->p[b->len] = '\0';
	p = b->p;
	*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

void jb_free(struct jsonbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
