/*
 * A data sync that runs while privd's single thread does something else: Linux native
 * AIO's IOCB_CMD_FDSYNC, which the kernel carries out on a worker. A discarding rollback
 * uses it to make its journal record durable while btrfs commits its snapshot, instead
 * of after.
 */
#ifndef WSCKPT_AIO_SYNC_H
#define WSCKPT_AIO_SYNC_H

#include <linux/aio_abi.h>
#include <stdbool.h>

struct aio_sync {
	aio_context_t ctx;
	bool ready;    /* the context exists: aio_sync_start may be used */
	bool inflight; /* a sync was started and not yet waited for */
};

/* Create the context (one request at a time). Call after daemon() (a context does not
 * survive fork) and before the sandbox (which does not allow io_setup). 0 or -errno; on
 * failure syncs run the ordinary way. */
int aio_sync_init(struct aio_sync *a);
/* Start fdatasync(fd). 0, or -errno (nothing started: the caller syncs itself). */
int aio_sync_start(struct aio_sync *a, int fd);
/* Wait for the started sync: its result, 0 or -errno. */
int aio_sync_wait(struct aio_sync *a);

#endif
