/*
 * libFuzzer harness: the imsg decoder (proto/imsg.c imsgbuf_read / imsg_get), the
 * frame parser privd runs on everything frontd sends.
 *
 * Input byte 0 selects the mode:
 *   even: direct, fd-less — bytes are appended straight into the imsgbuf's rbuf, as
 *         imsgbuf_read would, and imsg_get is called until it returns 0 or -1 after
 *         each append. Chunks: a control byte c, then
 *           c < 0xff:  c bytes of input follow (fewer at the end of the input);
 *           c == 0xff: a fill byte f and a count m follow; up to (m + 1) * 1024 copies
 *                      of f are appended, but only as payload of the message whose header
 *                      is at the front of the buffer (never more than it still needs), so
 *                      payloads up to the 256 KiB limit and a completely full buffer are
 *                      reachable. Not more: a buffer full of tiny messages costs imsg_get
 *                      a memmove per message (quadratic; ~1 s per buffer under ASan).
 *   odd:  socket — each chunk is sent over a real AF_UNIX socketpair with sendmsg,
 *         optionally with descriptors (SCM_RIGHTS), and read with imsgbuf_read.
 *         Chunks: a control byte c, a length byte L, then L bytes of input.
 *           c & 0x80: attach (c & 7) + 1 descriptors (1..8; more than one, or more
 *                     than the receiver's control buffer holds, is hostile);
 *           c & 0x40: do not drain after this chunk (the kernel may merge reads);
 *           c & 0x20: shut down the sending side after this chunk (EOF).
 * Messages returned must be consistent (payload length, fd iff IMSGF_HASFD), and no
 * descriptor may be leaked on any path: imsgbuf_clear/imsg_free must close them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/imsg.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_imsg: invariant failed: %s\n", #cond);    \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define HDR_SZ sizeof(struct imsg_hdr)
#define RBUF_SZ (HDR_SZ + IMSG_MAX_PAYLOAD)
#define FD_WINDOW 96

static volatile uint8_t sink;

static void check_msg(const struct imsg *m, int fds_possible)
{
	CHECK(m->hdr.len <= IMSG_MAX_PAYLOAD);
	CHECK((m->hdr.flags & ~IMSGF_HASFD) == 0);
	CHECK(m->data != NULL);
	if (m->hdr.flags & IMSGF_HASFD) {
		CHECK(fds_possible);
		CHECK(m->fd >= 0);
		/* Received with MSG_CMSG_CLOEXEC. */
		CHECK(fcntl(m->fd, F_GETFD) == FD_CLOEXEC);
	} else {
		CHECK(m->fd == -1);
	}
}

/* Take messages until imsg_get wants more (0) or reports a violation (-1). */
static int drain_msgs(struct imsgbuf *ib, int fds_possible)
{
	struct imsg m;
	int rc;

	while ((rc = imsg_get(ib, &m)) == 1) {
		check_msg(&m, fds_possible);
		/* Touch the whole payload so a short allocation shows up. */
		for (size_t k = 0; k < m.hdr.len; k++)
			sink ^= ((const uint8_t *)m.data)[k];
		imsg_free(&m);
		CHECK(m.data == NULL && m.fd == -1);
	}
	CHECK(rc == 0 || rc == -1);
	return rc;
}

static void direct(const uint8_t *data, size_t size)
{
	struct imsgbuf ib;
	uint64_t appended = 0;
	size_t i = 0;

	if (imsgbuf_init(&ib, -1) < 0)
		return;
	while (i < size) {
		uint8_t c = data[i++];
		size_t room, n;

		/* as imsg_read does before each read: the unread bytes move to the front */
		if (ib.roff > 0) {
			memmove(ib.rbuf, ib.rbuf + ib.roff, ib.rlen);
			ib.roff = 0;
		}
		room = RBUF_SZ - ib.rlen;

		if (c < 0xff) {
			n = c;
			if (n > size - i)
				n = size - i;
			if (n > room)
				n = room;
			memcpy(ib.rbuf + ib.rlen, data + i, n);
			i += n;
		} else {
			struct imsg_hdr h;
			size_t need = 0;

			if (size - i < 2)
				break;
			if (ib.rlen >= HDR_SZ) {
				memcpy(&h, ib.rbuf, HDR_SZ);
				if (h.len <= IMSG_MAX_PAYLOAD && HDR_SZ + h.len > ib.rlen)
					need = HDR_SZ + h.len - ib.rlen;
			}
			n = ((size_t)data[i + 1] + 1) * 1024;
			if (n > need)
				n = need;
			if (n > room)
				n = room;
			memset(ib.rbuf + ib.rlen, data[i], n);
			i += 2;
		}
		ib.rlen += n;
		appended += n;
		if (drain_msgs(&ib, 0) < 0)
			break;
		CHECK(ib.rpos + ib.rlen == appended);
		/* A full buffer always holds a complete message (or a violation). */
		CHECK(ib.rlen < RBUF_SZ);
	}
	imsgbuf_clear(&ib);
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	close(fd);
	return fd;
}

static void fd_snapshot(int base, unsigned char open_map[FD_WINDOW])
{
	for (int i = 0; i < FD_WINDOW; i++)
		open_map[i] = fcntl(base + i, F_GETFD) >= 0;
}

static ssize_t send_chunk(int sock, const uint8_t *buf, size_t len, int nfds, int src_fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cmsgbuf;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;
		int fds[8];

		for (int k = 0; k < nfds; k++)
			fds[k] = src_fd;
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* Read and decode what the socket has. 0: keep going, -1: the channel would be dropped. */
static int drain_socket(struct imsgbuf *ib, int *eof)
{
	for (;;) {
		ssize_t n = imsgbuf_read(ib);

		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		if (n == 0) {
			*eof = 1;
			return drain_msgs(ib, 1) < 0 ? -1 : 0;
		}
		if (drain_msgs(ib, 1) < 0)
			return -1;
	}
}

static void socket_mode(const uint8_t *data, size_t size)
{
	unsigned char before[FD_WINDOW], after[FD_WINDOW];
	int base = lowest_free_fd();
	struct imsgbuf ib;
	int sv[2], src, eof = 0, shut = 0;
	size_t i = 0;

	fd_snapshot(base, before);
	src = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(src >= 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(imsgbuf_init(&ib, sv[1]) == 0);
	while (i + 2 <= size && !eof) {
		uint8_t c = data[i], len = data[i + 1];
		size_t n = len;
		int nfds = (c & 0x80) ? (c & 7) + 1 : 0;

		i += 2;
		if (n > size - i)
			n = size - i;
		if (!shut && (n > 0 || nfds == 0)) {
			ssize_t sent = send_chunk(sv[0], data + i, n, n > 0 ? nfds : 0, src);
			CHECK(sent < 0 || (size_t)sent <= n);
		}
		i += n;
		if ((c & 0x20) && !shut) {
			shutdown(sv[0], SHUT_WR);
			shut = 1;
		}
		if (!(c & 0x40) || i + 2 > size) {
			if (drain_socket(&ib, &eof) < 0)
				break;
		}
	}
	imsgbuf_clear(&ib);
	close(sv[0]);
	close(sv[1]);
	close(src);
	/* Every received descriptor was closed by imsg_free, imsgbuf_clear or the kernel. */
	fd_snapshot(base, after);
	for (int k = 0; k < FD_WINDOW; k++) {
		if (after[k] != before[k]) {
			fprintf(stderr, "fuzz_imsg: descriptor %d leaked\n", base + k);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		socket_mode(data + 1, size - 1);
	else
		direct(data + 1, size - 1);
	return 0;
}
