/* NDJSON line framing with a hard cap so a peer cannot make us buffer without bound. */
#include "proto/linebuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int linebuf_init(struct linebuf *lb, size_t max)
{
	lb->cap = 64 * 1024;
	lb->len = 0;
	lb->max = max;
	lb->buf = malloc(lb->cap);
	return lb->buf ? 0 : -ENOMEM;
}

void linebuf_free(struct linebuf *lb)
{
	free(lb->buf);
	lb->buf = NULL;
	lb->len = lb->cap = 0;
}

ssize_t linebuf_fill(struct linebuf *lb, int fd)
{
	ssize_t n;

	if (lb->len == lb->cap) {
		size_t ncap = lb->cap * 2;
		char *nb;
		if (ncap > lb->max + 1)
			ncap = lb->max + 1;
		if (ncap <= lb->cap) {
			errno = EMSGSIZE;
			return -1;
		}
		nb = realloc(lb->buf, ncap);
		if (!nb)
			return -1;
		lb->buf = nb;
		lb->cap = ncap;
	}
	do {
		n = read(fd, lb->buf + lb->len, lb->cap - lb->len);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		lb->len += (size_t)n;
	return n;
}

int linebuf_next(struct linebuf *lb, char **line, size_t *len)
{
	char *nl = memchr(lb->buf, '\n', lb->len);
	size_t l;

	if (!nl)
		return lb->len >= lb->max ? -1 : 0;
	l = (size_t)(nl - lb->buf);
	if (l + 1 > lb->max)
		return -1;
	*line = malloc(l + 1);
	if (!*line)
		return -1;
	memcpy(*line, lb->buf, l);
	(*line)[l] = '\0';
	if (len)
		*len = l;
	lb->len -= l + 1;
	memmove(lb->buf, nl + 1, lb->len);
	return 1;
}
