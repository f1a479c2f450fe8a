/* imsg framing with SCM_RIGHTS descriptor passing; every bound checked on receive. */
#include "proto/imsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct imsg_out {
	struct imsg_out *next;
	size_t len, off;
	int fd;        /* sent with the first byte, then closed */
	uint8_t buf[]; /* header + payload */
};

#define HDR_SZ sizeof(struct imsg_hdr)

int imsgbuf_init(struct imsgbuf *ib, int fd)
{
	memset(ib, 0, sizeof(*ib));
	ib->fd = fd;
	ib->rbuf = malloc(HDR_SZ + IMSG_MAX_PAYLOAD);
	return ib->rbuf ? 0 : -ENOMEM;
}

void imsgbuf_clear(struct imsgbuf *ib)
{
	struct imsg_out *o = ib->out_head;

	while (o) {
		struct imsg_out *next = o->next;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
		o = next;
	}
	ib->out_head = ib->out_tail = NULL;
	ib->out_bytes = 0;
	for (size_t i = 0; i < ib->nfds; i++)
		close(ib->fds[i]);
	ib->nfds = 0;
	free(ib->rbuf);
	ib->rbuf = NULL;
	ib->rlen = ib->roff = 0;
}

/*
 * The sender attaches one descriptor to the first byte of its message, and the kernel
 * ends a read after the bytes that carried descriptors, so one read yields at most one.
 */
static int take_fds(struct imsgbuf *ib, struct msghdr *mh, uint64_t from, uint64_t to)
{
	int rc = 0;
	size_t taken = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int *fdp;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fdp = (int *)(void *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, fdp + i, sizeof(fd));
			if (taken == 0 && ib->nfds < IMSG_MAX_QUEUED_FDS) {
				ib->fd_from[ib->nfds] = from;
				ib->fd_to[ib->nfds] = to;
				ib->fds[ib->nfds++] = fd;
				taken++;
			} else {
				close(fd);
				rc = -1;
			}
		}
	}
	return rc;
}

ssize_t imsgbuf_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	size_t room;

	/* imsg_get only advances roff (a memmove per message made a full buffer of small
	 * messages quadratic); the unread rest moves to the front once per read. */
	if (ib->roff > 0) {
		memmove(ib->rbuf, ib->rbuf + ib->roff, ib->rlen);
		ib->roff = 0;
	}
	room = HDR_SZ + IMSG_MAX_PAYLOAD - ib->rlen;
	if (room == 0) {
		errno = ENOBUFS;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = ib->rbuf + ib->rlen;
	iov.iov_len = room;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(ib->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* More descriptors than we accept: the kernel closed the rest; treat as hostile. */
	if (take_fds(ib, &mh, ib->rpos + ib->rlen, ib->rpos + ib->rlen + (uint64_t)n) < 0 ||
	    (mh.msg_flags & MSG_CTRUNC)) {
		errno = EPROTO;
		return -1;
	}
	ib->rlen += (size_t)n;
	return n;
}

int imsg_get(struct imsgbuf *ib, struct imsg *msg)
{
	struct imsg_hdr h;
	bool owns_fd;

	/* A descriptor that came only with bytes already consumed was claimed by nobody. */
	if (ib->nfds > 0 && ib->fd_to[0] <= ib->rpos)
		return -1;
	if (ib->rlen < HDR_SZ)
		return 0;
	memcpy(&h, ib->rbuf + ib->roff, HDR_SZ);
	if (h.len > IMSG_MAX_PAYLOAD || (h.flags & ~IMSGF_HASFD))
		return -1;
	if (ib->rlen < HDR_SZ + h.len)
		return 0;
	owns_fd = ib->nfds > 0 && ib->fd_from[0] <= ib->rpos &&
		  ib->fd_to[0] <= ib->rpos + HDR_SZ + h.len;
	/* fd missing, or one this message did not announce */
	if (owns_fd != ((h.flags & IMSGF_HASFD) != 0))
		return -1;
	msg->hdr = h;
	msg->fd = -1;
	msg->data = malloc(h.len ? h.len : 1);
	if (!msg->data)
		return -1;
	memcpy(msg->data, ib->rbuf + ib->roff + HDR_SZ, h.len);
	if (owns_fd) {
		msg->fd = ib->fds[0];
		ib->nfds--;
		memmove(ib->fds, ib->fds + 1, ib->nfds * sizeof(ib->fds[0]));
		memmove(ib->fd_from, ib->fd_from + 1, ib->nfds * sizeof(ib->fd_from[0]));
		memmove(ib->fd_to, ib->fd_to + 1, ib->nfds * sizeof(ib->fd_to[0]));
	}
	ib->rpos += HDR_SZ + h.len;
	ib->rlen -= HDR_SZ + h.len;
	ib->roff = ib->rlen ? ib->roff + HDR_SZ + h.len : 0;
	return 1;
}

void imsg_free(struct imsg *msg)
{
	free(msg->data);
	msg->data = NULL;
	if (msg->fd >= 0)
		close(msg->fd);
	msg->fd = -1;
}

int imsg_compose2(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd, const void *a,
		  size_t alen, const void *b, size_t blen)
{
	struct imsg_out *o;
	struct imsg_hdr h;

	/* Checked piecewise so alen + blen cannot wrap around. */
	if (alen > IMSG_MAX_PAYLOAD || blen > IMSG_MAX_PAYLOAD - alen)
		return -EMSGSIZE;
	o = malloc(sizeof(*o) + HDR_SZ + alen + blen);
	if (!o)
		return -ENOMEM;
	o->fd = -1;
	if (fd >= 0) {
		o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (o->fd < 0) {
			int e = errno;
			free(o);
			return -e;
		}
	}
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.len = (uint32_t)(alen + blen);
	h.flags = fd >= 0 ? IMSGF_HASFD : 0;
	h.peerid = peerid;
	h.pid = (uint32_t)getpid();
	memcpy(o->buf, &h, HDR_SZ);
	if (alen)
		memcpy(o->buf + HDR_SZ, a, alen);
	if (blen)
		memcpy(o->buf + HDR_SZ + alen, b, blen);
	o->len = HDR_SZ + alen + blen;
	o->off = 0;
	o->next = NULL;
	if (ib->out_tail)
		ib->out_tail->next = o;
	else
		ib->out_head = o;
	ib->out_tail = o;
	ib->out_bytes += o->len;
	return 0;
}

int imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd, const void *data,
		 size_t len)
{
	return imsg_compose2(ib, type, peerid, fd, data, len, NULL, 0);
}

static ssize_t send_one(int sock, struct imsg_out *o)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov = { .iov_base = o->buf + o->off, .iov_len = o->len - o->off };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (o->fd >= 0 && o->off == 0) {
		struct cmsghdr *c;
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &o->fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n;
}

int imsgbuf_flush(struct imsgbuf *ib)
{
	while (ib->out_head) {
		struct imsg_out *o = ib->out_head;
		ssize_t n = send_one(ib->fd, o);

		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
		if (o->fd >= 0) {
			/* The descriptor went with the first byte. */
			close(o->fd);
			o->fd = -1;
		}
		o->off += (size_t)n;
		ib->out_bytes -= (size_t)n;
		if (o->off < o->len)
			continue;
		ib->out_head = o->next;
		if (!ib->out_head)
			ib->out_tail = NULL;
		free(o);
	}
	return 0;
}

bool imsgbuf_pending(const struct imsgbuf *ib)
{
	return ib->out_head != NULL;
}
