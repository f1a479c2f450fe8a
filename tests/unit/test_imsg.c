/* Unit tests for proto/imsg.c: framing, partial reads, fd passing, bounds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/imsg.h"
#include "proto/privsep.h"

#define HDR_SZ sizeof(struct imsg_hdr)

/* ---- helpers ------------------------------------------------------------ */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 5000), 1);
}

/* Read until one complete message is available; returns imsg_get's result. */
static int recv_msg(struct imsgbuf *ib, struct imsg *msg)
{
	for (;;) {
		int r = imsg_get(ib, msg);
		ssize_t n;

		if (r != 0)
			return r;
		wait_readable(ib->fd);
		n = imsgbuf_read(ib);
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n > 0);
	}
}

static void write_all_raw(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static size_t make_frame(uint8_t *out, uint32_t type, uint32_t flags, uint32_t peerid,
			 const void *payload, uint32_t len)
{
	struct imsg_hdr h = { .type = type, .len = len, .flags = flags, .peerid = peerid,
			      .pid = 4242 };

	memcpy(out, &h, HDR_SZ);
	if (len)
		memcpy(out + HDR_SZ, payload, len);
	return HDR_SZ + len;
}

/* sendmsg bytes with nfds descriptors in one SCM_RIGHTS control message. */
static void send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh;
	struct cmsghdr *c;

	assert_true(nfds > 0 && nfds <= 64);
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	int sv[2];
	struct imsgbuf a, b;
	struct imsg m;
	const char *p1 = "first payload";
	uint64_t p2 = 0x0102030405060708ULL;

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	assert_false(imsgbuf_pending(&a));

	assert_int_equal(imsg_compose(&a, 7, 11, -1, p1, strlen(p1) + 1), 0);
	assert_int_equal(imsg_compose(&a, 8, 12, -1, &p2, sizeof(p2)), 0);
	assert_int_equal(imsg_compose(&a, 9, 13, -1, NULL, 0), 0);
	assert_true(imsgbuf_pending(&a));
	assert_int_equal(a.out_bytes, 3 * HDR_SZ + strlen(p1) + 1 + sizeof(p2));
	assert_int_equal(imsgbuf_flush(&a), 0);
	assert_false(imsgbuf_pending(&a));
	assert_int_equal(a.out_bytes, 0);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 7);
	assert_int_equal(m.hdr.peerid, 11);
	assert_int_equal(m.hdr.flags, 0);
	assert_int_equal(m.hdr.pid, (uint32_t)getpid());
	assert_int_equal(m.hdr.len, strlen(p1) + 1);
	assert_int_equal(m.fd, -1);
	assert_string_equal(m.data, p1);
	imsg_free(&m);
	assert_null(m.data);
	assert_int_equal(m.fd, -1);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 8);
	assert_int_equal(m.hdr.peerid, 12);
	assert_int_equal(m.hdr.len, sizeof(p2));
	assert_memory_equal(m.data, &p2, sizeof(p2));
	imsg_free(&m);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 9);
	assert_int_equal(m.hdr.peerid, 13);
	assert_int_equal(m.hdr.len, 0);
	assert_non_null(m.data); /* zero-length payloads still get a buffer */
	assert_int_equal(m.fd, -1);
	imsg_free(&m);

	assert_int_equal(imsg_get(&b, &m), 0);
	assert_int_equal(b.rlen, 0);

	/* Both directions work. */
	assert_int_equal(imsg_compose(&b, 100, 1, -1, "x", 1), 0);
	assert_int_equal(imsgbuf_flush(&b), 0);
	assert_int_equal(recv_msg(&a, &m), 1);
	assert_int_equal(m.hdr.type, 100);
	assert_memory_equal(m.data, "x", 1);
	imsg_free(&m);

	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	assert_null(a.rbuf);
	close(sv[0]);
	close(sv[1]);
}

static void test_partial_reads(void **state)
{
	int sv[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t frame[HDR_SZ + 10];
	size_t flen = make_frame(frame, 5, 0, 77, "0123456789", 10);

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	assert_int_equal(imsg_get(&b, &m), 0); /* nothing at all */
	for (size_t i = 0; i < flen; i++) {
		assert_int_equal(write(sv[0], frame + i, 1), 1);
		assert_int_equal(imsgbuf_read(&b), 1);
		if (i + 1 < flen)
			assert_int_equal(imsg_get(&b, &m), 0);
	}
	assert_int_equal(imsg_get(&b, &m), 1);
	assert_int_equal(m.hdr.type, 5);
	assert_int_equal(m.hdr.peerid, 77);
	assert_int_equal(m.hdr.pid, 4242);
	assert_int_equal(m.hdr.len, 10);
	assert_memory_equal(m.data, "0123456789", 10);
	imsg_free(&m);
	assert_int_equal(imsg_get(&b, &m), 0);

	/* Nothing buffered: a non-blocking read reports EAGAIN, not EOF. */
	errno = 0;
	assert_int_equal(imsgbuf_read(&b), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_several_in_one_read(void **state)
{
	int sv[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t buf[3 * HDR_SZ + 32];
	size_t off = 0;

	off += make_frame(buf + off, 1, 0, 10, "aaa", 3);
	off += make_frame(buf + off, 2, 0, 20, NULL, 0);
	off += make_frame(buf + off, 3, 0, 30, "cccccccc", 8);
	/* and the first 5 bytes of a fourth header */
	memset(buf + off, 0, 5);
	off += 5;

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	write_all_raw(sv[0], buf, off);
	assert_int_equal(imsgbuf_read(&b), (ssize_t)off);

	assert_int_equal(imsg_get(&b, &m), 1);
	assert_int_equal(m.hdr.type, 1);
	assert_int_equal(m.hdr.peerid, 10);
	assert_memory_equal(m.data, "aaa", 3);
	imsg_free(&m);
	assert_int_equal(imsg_get(&b, &m), 1);
	assert_int_equal(m.hdr.type, 2);
	assert_int_equal(m.hdr.len, 0);
	imsg_free(&m);
	assert_int_equal(imsg_get(&b, &m), 1);
	assert_int_equal(m.hdr.type, 3);
	assert_int_equal(m.hdr.peerid, 30);
	assert_memory_equal(m.data, "cccccccc", 8);
	imsg_free(&m);
	assert_int_equal(imsg_get(&b, &m), 0);
	assert_int_equal(b.rlen, 5); /* the partial header stays buffered */

	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof(void **state)
{
	int sv[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t frame[HDR_SZ];

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	make_frame(frame, 1, 0, 0, NULL, 0);
	write_all_raw(sv[0], frame, 7);
	close(sv[0]);
	assert_int_equal(imsgbuf_read(&b), 7);
	assert_int_equal(imsgbuf_read(&b), 0);
	assert_int_equal(imsg_get(&b, &m), 0);
	imsgbuf_clear(&b);
	close(sv[1]);
}

static void test_fd_passing(void **state)
{
	int sv[2], p[2];
	struct imsgbuf a, b;
	struct imsg m;
	int base;
	char c = 0;

	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	base = count_fds();

	/* no fd, fd, no fd: the descriptor must land on the middle message only */
	assert_int_equal(imsg_compose(&a, 1, 1, -1, "A", 1), 0);
	assert_int_equal(imsg_compose(&a, 2, 2, p[1], "B", 1), 0);
	assert_int_equal(count_fds(), base + 1); /* compose duplicated it */
	assert_int_equal(imsg_compose(&a, 3, 3, -1, "C", 1), 0);
	assert_int_equal(imsgbuf_flush(&a), 0);
	assert_int_equal(count_fds(), base); /* the duplicate is closed once sent */
	assert_true(fd_is_open(p[1]));       /* the caller keeps its own */

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 1);
	assert_int_equal(m.hdr.flags, 0);
	assert_int_equal(m.fd, -1);
	imsg_free(&m);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 2);
	assert_int_equal(m.hdr.flags, IMSGF_HASFD);
	assert_true(m.fd >= 0);
	assert_int_not_equal(m.fd, p[1]);
	assert_int_not_equal(m.fd, p[0]);
	assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
	/* It is the same pipe: what we write through it comes out of p[0]. */
	assert_int_equal(write(m.fd, "z", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'z');
	{
		int fd = m.fd;
		imsg_free(&m);
		assert_false(fd_is_open(fd)); /* imsg_free closes a received fd */
	}

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 3);
	assert_int_equal(m.fd, -1);
	imsg_free(&m);
	assert_int_equal(b.nfds, 0);
	assert_int_equal(count_fds(), base);

	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_compose_bad_fd(void **state)
{
	int sv[2];
	struct imsgbuf a;

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	/* A closed descriptor cannot be duplicated: nothing is queued. */
	assert_int_equal(imsg_compose(&a, 1, 0, 1000, "x", 1), -EBADF);
	assert_false(imsgbuf_pending(&a));
	imsgbuf_clear(&a);
	close(sv[0]);
	close(sv[1]);
}

static void test_hasfd_without_fd(void **state)
{
	int sv[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t frame[HDR_SZ + 4];
	size_t flen = make_frame(frame, 1, IMSGF_HASFD, 0, "abcd", 4);

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	write_all_raw(sv[0], frame, flen);
	assert_int_equal(imsgbuf_read(&b), (ssize_t)flen);
	m.data = NULL;
	assert_int_equal(imsg_get(&b, &m), -1);
	assert_null(m.data);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_oversized_payload(void **state)
{
	int sv[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t frame[HDR_SZ];

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	/* Rejected from the header alone, before any payload arrives. */
	make_frame(frame, 1, 0, 0, NULL, 0);
	((struct imsg_hdr *)(void *)frame)->len = IMSG_MAX_PAYLOAD + 1;
	write_all_raw(sv[0], frame, HDR_SZ);
	assert_int_equal(imsgbuf_read(&b), (ssize_t)HDR_SZ);
	assert_int_equal(imsg_get(&b, &m), -1);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	((struct imsg_hdr *)(void *)frame)->len = UINT32_MAX;
	write_all_raw(sv[0], frame, HDR_SZ);
	assert_int_equal(imsgbuf_read(&b), (ssize_t)HDR_SZ);
	assert_int_equal(imsg_get(&b, &m), -1);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_unknown_flags(void **state)
{
	static const uint32_t bad[] = { 0x2, 0x4, 0x80000000u, IMSGF_HASFD | 0x100 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int sv[2];
		struct imsgbuf b;
		struct imsg m;
		uint8_t frame[HDR_SZ];

		make_pair(sv);
		assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
		make_frame(frame, 1, bad[i], 0, NULL, 0);
		write_all_raw(sv[0], frame, HDR_SZ);
		assert_int_equal(imsgbuf_read(&b), (ssize_t)HDR_SZ);
		assert_int_equal(imsg_get(&b, &m), -1);
		imsgbuf_clear(&b);
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_compose_limits(void **state)
{
	int sv[2];
	struct imsgbuf a, b;
	struct imsg m;
	uint8_t *big = malloc(IMSG_MAX_PAYLOAD + 1);
	size_t got = 0;

	assert_non_null(big);
	for (size_t i = 0; i < IMSG_MAX_PAYLOAD + 1; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	make_pair(sv);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);

	assert_int_equal(imsg_compose(&a, 1, 0, -1, big, IMSG_MAX_PAYLOAD + 1), -EMSGSIZE);
	assert_int_equal(imsg_compose2(&a, 1, 0, -1, big, IMSG_MAX_PAYLOAD, big, 1), -EMSGSIZE);
	assert_int_equal(imsg_compose2(&a, 1, 0, -1, big, 1, big, IMSG_MAX_PAYLOAD), -EMSGSIZE);
	/* alen + blen must not wrap around size_t */
	assert_int_equal(imsg_compose2(&a, 1, 0, -1, big, 1, big, SIZE_MAX), -EMSGSIZE);
	assert_int_equal(imsg_compose2(&a, 1, 0, -1, big, SIZE_MAX, big, 1), -EMSGSIZE);
	assert_false(imsgbuf_pending(&a));

	/* Exactly the maximum goes through, interleaving flush and read. */
	assert_int_equal(imsg_compose(&a, 2, 9, -1, big, IMSG_MAX_PAYLOAD), 0);
	for (;;) {
		int f = imsgbuf_flush(&a);
		int r;
		assert_true(f == 0 || f == 1);
		wait_readable(b.fd);
		assert_true(imsgbuf_read(&b) > 0);
		r = imsg_get(&b, &m);
		assert_true(r >= 0);
		if (r == 1)
			break;
		assert_true(f == 1 || imsgbuf_pending(&a) || b.rlen > 0);
	}
	assert_int_equal(m.hdr.type, 2);
	assert_int_equal(m.hdr.len, IMSG_MAX_PAYLOAD);
	assert_memory_equal(m.data, big, IMSG_MAX_PAYLOAD);
	got = m.hdr.len;
	imsg_free(&m);
	assert_int_equal(got, IMSG_MAX_PAYLOAD);
	assert_false(imsgbuf_pending(&a));

	free(big);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void test_flush_full_buffer(void **state)
{
	enum { N = 64, SZ = 64 * 1024, FD_AT = 40 };
	int sv[2], p[2];
	struct imsgbuf a, b;
	uint8_t *payload = malloc(SZ);
	int next = 0, f, sndbuf = 4096, base;
	bool saw_fd = false;

	assert_non_null(payload);
	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	base = count_fds();

	for (int i = 0; i < N; i++) {
		memset(payload, i, SZ);
		memcpy(payload, &i, sizeof(i));
		assert_int_equal(imsg_compose(&a, 1000 + (uint32_t)i, (uint32_t)i,
					      i == FD_AT ? p[1] : -1, payload, SZ),
				 0);
	}
	/* 4 MiB cannot fit in the socket buffers: the flush must stop and say so. */
	assert_int_equal(imsgbuf_flush(&a), 1);
	assert_true(imsgbuf_pending(&a));
	assert_true(a.out_bytes > 0 && a.out_bytes < (size_t)N * (HDR_SZ + SZ));

	/* The peer drains; we keep flushing until all is out, in order and intact. */
	do {
		struct imsg m;
		int r;

		ssize_t n;

		f = imsgbuf_flush(&a);
		assert_true(f == 0 || f == 1);
		n = imsgbuf_read(&b);
		if (n < 0) {
			struct pollfd pfd[2] = { { .fd = a.fd, .events = POLLOUT },
						 { .fd = b.fd, .events = POLLIN } };
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			/* Nothing to read: only a pending flush can make progress. */
			assert_int_equal(f, 1);
			assert_true(poll(pfd, 2, 5000) > 0);
			continue;
		}
		assert_true(n > 0);
		while ((r = imsg_get(&b, &m)) == 1) {
			int seq;
			assert_int_equal(m.hdr.type, 1000 + (uint32_t)next);
			assert_int_equal(m.hdr.peerid, (uint32_t)next);
			assert_int_equal(m.hdr.len, SZ);
			memcpy(&seq, m.data, sizeof(seq));
			assert_int_equal(seq, next);
			assert_int_equal(((uint8_t *)m.data)[SZ - 1], (uint8_t)next);
			if (next == FD_AT) {
				assert_true(m.fd >= 0);
				assert_int_equal(write(m.fd, "q", 1), 1);
				saw_fd = true;
			} else {
				assert_int_equal(m.fd, -1);
			}
			imsg_free(&m);
			next++;
		}
		assert_int_equal(r, 0);
	} while (next < N);
	assert_int_equal(imsgbuf_read(&b), -1); /* nothing extra arrived */
	assert_int_equal(f, 0);
	assert_false(imsgbuf_pending(&a));
	assert_int_equal(a.out_bytes, 0);
	assert_true(saw_fd);
	{
		char c = 0;
		assert_int_equal(read(p[0], &c, 1), 1);
		assert_int_equal(c, 'q');
	}
	assert_int_equal(b.nfds, 0);
	assert_int_equal(count_fds(), base);

	free(payload);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_flush_peer_gone(void **state)
{
	int sv[2];
	struct imsgbuf a;

	make_pair(sv);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	close(sv[1]);
	assert_int_equal(imsg_compose(&a, 1, 0, -1, "x", 1), 0);
	/* EPIPE without SIGPIPE (MSG_NOSIGNAL) */
	assert_int_equal(imsgbuf_flush(&a), -1);
	assert_int_equal(errno, EPIPE);
	imsgbuf_clear(&a);
	close(sv[0]);
}

static void test_many_fds_one_sendmsg(void **state)
{
	int sv[2], p[2], fds[16];
	struct imsgbuf b;
	uint8_t frame[HDR_SZ];
	int base;

	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	base = count_fds();

	for (int i = 0; i < 16; i++)
		fds[i] = p[i % 2];
	make_frame(frame, 1, IMSGF_HASFD, 0, NULL, 0);
	send_with_fds(sv[0], frame, HDR_SZ, fds, 16);
	errno = 0;
	assert_int_equal(imsgbuf_read(&b), -1);
	assert_int_equal(errno, EPROTO);
	assert_true(b.nfds <= IMSG_MAX_QUEUED_FDS);
	for (size_t i = 0; i < b.nfds; i++)
		assert_true(fcntl(b.fds[i], F_GETFD) & FD_CLOEXEC);
	imsgbuf_clear(&b);
	/* Whatever the kernel installed has been closed again. */
	assert_int_equal(count_fds(), base);

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_too_many_queued_fds(void **state)
{
	int sv[2], p[2];
	struct imsgbuf a, b;
	int base, failed_at = -1;

	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	base = count_fds();

	/* One fd per message, but the receiver never takes the messages. */
	for (int i = 0; i < IMSG_MAX_QUEUED_FDS + 4; i++)
		assert_int_equal(imsg_compose(&a, 1, (uint32_t)i, p[i % 2], "m", 1), 0);
	assert_int_equal(imsgbuf_flush(&a), 0);
	assert_int_equal(count_fds(), base); /* sender's duplicates closed */

	for (int i = 0; i < IMSG_MAX_QUEUED_FDS + 4; i++) {
		ssize_t n = imsgbuf_read(&b);
		if (n < 0) {
			assert_int_equal(errno, EPROTO);
			failed_at = i;
			break;
		}
		assert_true(n > 0);
		assert_true(b.nfds <= IMSG_MAX_QUEUED_FDS);
	}
	assert_true(failed_at >= 0);
	assert_int_equal(b.nfds, IMSG_MAX_QUEUED_FDS);
	imsgbuf_clear(&b);
	assert_int_equal(b.nfds, 0);
	/* Whatever remains in the socket is dropped with it. */
	close(sv[1]);
	sv[1] = -1;
	assert_int_equal(count_fds(), base - 1);

	imsgbuf_clear(&a);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
}

static void test_clear_closes_queued_fds(void **state)
{
	int sv[2], p[2];
	struct imsgbuf a, b;
	int base;

	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);
	base = count_fds();

	/* Received but not yet taken. */
	assert_int_equal(imsg_compose(&a, 1, 0, p[0], "r", 1), 0);
	assert_int_equal(imsg_compose(&a, 1, 0, p[1], "w", 1), 0);
	assert_int_equal(imsgbuf_flush(&a), 0);
	while (b.nfds < 2) {
		wait_readable(b.fd);
		assert_true(imsgbuf_read(&b) > 0);
	}
	assert_int_equal(count_fds(), base + 2);

	/* Composed but not yet flushed. */
	assert_int_equal(imsg_compose(&a, 2, 0, p[0], "x", 1), 0);
	assert_int_equal(imsg_compose(&a, 2, 0, p[1], "y", 1), 0);
	assert_int_equal(imsg_compose(&a, 2, 0, -1, "z", 1), 0);
	assert_int_equal(count_fds(), base + 4);

	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	assert_int_equal(count_fds(), base);
	assert_false(imsgbuf_pending(&a));
	assert_null(a.out_head);
	assert_int_equal(a.out_bytes, 0);
	/* The sockets themselves are not imsgbuf_clear's to close. */
	assert_true(fd_is_open(sv[0]));
	assert_true(fd_is_open(sv[1]));

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_compose2_concatenates(void **state)
{
	int sv[2], p[2];
	struct imsgbuf a, b;
	struct imsg m;
	struct {
		uint64_t id;
		uint32_t len;
		uint32_t pad;
	} head = { 0x1122334455667788ULL, 11, 0 };
	const char *tail = "hello world";
	uint8_t expect[sizeof(head) + 11];

	memcpy(expect, &head, sizeof(head));
	memcpy(expect + sizeof(head), tail, 11);
	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&a, sv[0]), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);

	assert_int_equal(imsg_compose2(&a, 3, 4, -1, &head, sizeof(head), tail, 11), 0);
	assert_int_equal(imsg_compose2(&a, 5, 6, p[0], NULL, 0, tail, 5), 0);
	assert_int_equal(imsg_compose2(&a, 7, 8, -1, tail, 5, NULL, 0), 0);
	assert_int_equal(imsgbuf_flush(&a), 0);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 3);
	assert_int_equal(m.hdr.peerid, 4);
	assert_int_equal(m.hdr.len, sizeof(expect));
	assert_memory_equal(m.data, expect, sizeof(expect));
	imsg_free(&m);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 5);
	assert_int_equal(m.hdr.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	assert_true(m.fd >= 0);
	imsg_free(&m);

	assert_int_equal(recv_msg(&b, &m), 1);
	assert_int_equal(m.hdr.type, 7);
	assert_int_equal(m.hdr.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	assert_int_equal(m.fd, -1);
	imsg_free(&m);

	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/*
 * imsg.h promises -1 for an "unexpected" fd. A descriptor that arrives with a message
 * whose header lacks IMSGF_HASFD must not be handed to a later message that claims one.
 */
static void test_unexpected_fd_not_misattributed(void **state)
{
	int sv[2], p[2];
	struct imsgbuf b;
	struct imsg m;
	uint8_t frame[HDR_SZ + 1];
	int r;

	make_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(imsgbuf_init(&b, sv[1]), 0);

	/* A: no HASFD flag, but an fd is attached. B: HASFD, but no fd attached. */
	make_frame(frame, 1, 0, 0, "A", 1);
	send_with_fds(sv[0], frame, sizeof(frame), &p[0], 1);
	make_frame(frame, 2, IMSGF_HASFD, 0, "B", 1);
	write_all_raw(sv[0], frame, sizeof(frame));

	r = recv_msg(&b, &m);
	if (r == 1) {
		assert_int_equal(m.hdr.type, 1);
		imsg_free(&m);
		r = recv_msg(&b, &m);
		if (r == 1)
			imsg_free(&m);
	}
	assert_int_equal(r, -1); /* B must not receive A's descriptor */

	imsgbuf_clear(&b);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_privsep_fits(void **state)
{
	/* The largest privsep payloads must fit one imsg. */
	assert_true(sizeof(struct ps_request) + PRIVSEP_METADATA_MAX <= IMSG_MAX_PAYLOAD);
	assert_true(sizeof(struct ps_reply_end) <= IMSG_MAX_PAYLOAD);
	assert_int_equal(sizeof(struct ps_request) % 8, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_partial_reads),
		cmocka_unit_test(test_several_in_one_read),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_compose_bad_fd),
		cmocka_unit_test(test_hasfd_without_fd),
		cmocka_unit_test(test_oversized_payload),
		cmocka_unit_test(test_unknown_flags),
		cmocka_unit_test(test_compose_limits),
		cmocka_unit_test(test_flush_full_buffer),
		cmocka_unit_test(test_flush_peer_gone),
		cmocka_unit_test(test_many_fds_one_sendmsg),
		cmocka_unit_test(test_too_many_queued_fds),
		cmocka_unit_test(test_clear_closes_queued_fds),
		cmocka_unit_test(test_compose2_concatenates),
		cmocka_unit_test(test_unexpected_fd_not_misattributed),
		cmocka_unit_test(test_privsep_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
