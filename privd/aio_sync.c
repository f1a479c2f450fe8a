/*
 * Native AIO through raw system calls: glibc has no wrapper for it, and libaio would be
 * one more library for three calls. Only IOCB_CMD_FDSYNC is used; the kernel runs it on
 * a workqueue, so it proceeds while the submitting thread is inside another system call.
 */
#include "privd/aio_sync.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int aio_sync_init(struct aio_sync *a)
{
	memset(a, 0, sizeof(*a));
	if (syscall(SYS_io_setup, 1, &a->ctx) < 0)
		return -errno;
	a->ready = true;
	return 0;
}

int aio_sync_start(struct aio_sync *a, int fd)
{
	struct iocb cb;
	struct iocb *cbs[1] = { &cb };

	if (!a->ready || a->inflight)
		return -EAGAIN;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = (unsigned)fd;
	cb.aio_lio_opcode = IOCB_CMD_FDSYNC;
	/* The kernel copies the iocb during the call: cb need not outlive it. */
	errno = 0;
	if (syscall(SYS_io_submit, a->ctx, 1L, cbs) != 1)
		return errno ? -errno : -EIO;
	a->inflight = true;
	return 0;
}

static long get_one_event(aio_context_t ctx, struct io_event *ev)
{
#ifdef SYS_io_getevents
	return syscall(SYS_io_getevents, ctx, 1L, 1L, ev, NULL);
#else /* architectures without it (arm64) have only the sigmask-taking variant */
	return syscall(SYS_io_pgetevents, ctx, 1L, 1L, ev, NULL, NULL);
#endif
}

int aio_sync_wait(struct aio_sync *a)
{
	struct io_event ev;
	long n;

	if (!a->inflight)
		return -EINVAL;
	do {
		errno = 0;
		n = get_one_event(a->ctx, &ev);
	} while (n < 0 && errno == EINTR);
	if (n != 1) {
		/* The request's fate is unknown: never submit over it (syncs go the ordinary way). */
		a->ready = false;
		return n < 0 && errno ? -errno : -EIO;
	}
	a->inflight = false;
	return ev.res < 0 ? (int)ev.res : 0;
}
