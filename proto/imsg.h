/*
 * imsg-style framing between frontd and privd: a fixed header, a bounded payload and
 * at most one file descriptor per message, over a SOCK_STREAM socketpair.
 */
#ifndef WSCKPT_IMSG_H
#define WSCKPT_IMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMSG_MAX_PAYLOAD (256u * 1024u)
#define IMSGF_HASFD 0x1u

struct imsg_hdr {
	uint32_t type;
	uint32_t len;    /* payload bytes following the header */
	uint32_t flags;  /* IMSGF_* */
	uint32_t peerid; /* session the message is about */
	uint32_t pid;    /* sender pid, informational */
};

struct imsg {
	struct imsg_hdr hdr;
	void *data; /* hdr.len bytes, owned by the imsg */
	int fd;     /* -1 unless IMSGF_HASFD */
};

struct imsg_out;

#define IMSG_MAX_QUEUED_FDS 8

struct imsgbuf {
	int fd;
	uint8_t *rbuf; /* sizeof(hdr) + IMSG_MAX_PAYLOAD */
	size_t roff;   /* rbuf[roff .. roff + rlen) is read but not yet taken by imsg_get */
	size_t rlen;
	uint64_t rpos; /* stream offset of rbuf[roff] */
	int fds[IMSG_MAX_QUEUED_FDS];
	/* Stream bytes [fd_from, fd_to) of the read that carried fds[i]: the descriptor
	 * belongs to the message that starts in that range and runs to its end. */
	uint64_t fd_from[IMSG_MAX_QUEUED_FDS], fd_to[IMSG_MAX_QUEUED_FDS];
	size_t nfds;
	struct imsg_out *out_head, *out_tail;
	size_t out_bytes;
};

int imsgbuf_init(struct imsgbuf *ib, int fd);
/* Frees buffers and closes every queued descriptor; does not close ib->fd. */
void imsgbuf_clear(struct imsgbuf *ib);

/* Read what the socket has. Returns bytes read, 0 on EOF, -1 with errno (EAGAIN ok). */
ssize_t imsgbuf_read(struct imsgbuf *ib);

/* Take the next complete message: 1 got one, 0 need more bytes, -1 protocol error
 * (oversized payload, unknown flags, fd missing or unexpected). */
int imsg_get(struct imsgbuf *ib, struct imsg *msg);
void imsg_free(struct imsg *msg);

/* Queue a message; fd (or -1) is duplicated, the caller keeps its own. 0 or -errno. */
int imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd, const void *data,
		 size_t len);
/* Queue a message whose payload is two pieces (fixed struct + variable tail). */
int imsg_compose2(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd, const void *a,
		  size_t alen, const void *b, size_t blen);

/* Write queued messages. 0: all written, 1: would block (wait for POLLOUT), -1: error. */
int imsgbuf_flush(struct imsgbuf *ib);
bool imsgbuf_pending(const struct imsgbuf *ib);

#endif
