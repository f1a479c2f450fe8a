/* Bounded newline-delimited reader for the client protocol (NDJSON). */
#ifndef WSCKPT_LINEBUF_H
#define WSCKPT_LINEBUF_H

#include <stddef.h>
#include <sys/types.h>

#define NDJSON_LINE_MAX (1024u * 1024u) /* including the newline */

struct linebuf {
	char *buf;
	size_t len, cap, max;
};

int linebuf_init(struct linebuf *lb, size_t max);
void linebuf_free(struct linebuf *lb);
/* Append what fd has (one read). Returns bytes, 0 on EOF, -1 with errno. */
ssize_t linebuf_fill(struct linebuf *lb, int fd);
/*
 * Take the next line (without '\n', NUL-terminated, malloc'd into *line).
 * Returns 1 got a line, 0 need more, -1 the pending line exceeds max (caller drops the peer).
 */
int linebuf_next(struct linebuf *lb, char **line, size_t *len);

#endif
