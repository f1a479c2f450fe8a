/*
 * Writing JSON text straight into a growing buffer, for replies too large to build as a
 * cJSON tree first (a list of 10,000 snapshots is 100,000 tree nodes and as many mallocs).
 * Strings are escaped as cJSON escapes them, so the text is the same as cJSON's print.
 */
#ifndef WSCKPT_JSONBUF_H
#define WSCKPT_JSONBUF_H

#include <stdbool.h>
#include <stddef.h>

struct jsonbuf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed: the text is incomplete and jb_finish returns NULL */
};

void jb_init(struct jsonbuf *b);
/* n bytes as they are (JSON syntax, or JSON text already known to be valid). */
void jb_raw(struct jsonbuf *b, const char *s, size_t n);
void jb_lit(struct jsonbuf *b, const char *s);
/* s as a JSON string (quotes and escapes added); NULL as null. */
void jb_str(struct jsonbuf *b, const char *s);
void jb_bool(struct jsonbuf *b, bool v);
/* The NUL-terminated text (caller frees) and its length; NULL if anything failed. */
char *jb_finish(struct jsonbuf *b, size_t *len);
void jb_free(struct jsonbuf *b);

#endif
