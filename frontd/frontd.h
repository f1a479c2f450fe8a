/* ws-ckpt-frontd: shared declarations of the unprivileged front process. */
#ifndef WSCKPT_FRONTD_H
#define WSCKPT_FRONTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/errcode.h"
#include "proto/privsep.h"

struct event_base;

struct frontd_opts {
	int chan_fd;
	int listen_fd;
	unsigned max_conn;
	unsigned max_per_uid;
	bool foreground;
	int verbosity;
};

extern struct event_base *g_base;
extern struct frontd_opts g_opts;

/* privchan.c: our end of the channel to privd. */
int privchan_open(int fd);
int privchan_send(uint32_t type, uint32_t session, int fd, const void *a, size_t alen,
		  const void *b, size_t blen);

/* session.c: client connections. */
void listener_start(int listen_fd);
void session_on_data(uint32_t session, uint64_t req_id, const void *data, size_t len);
void session_on_end(uint32_t session, const struct ps_reply_end *end);
/* diff: fd is the read end of a send stream (taken over, closed by the session). */
void session_on_stream(uint32_t session, uint64_t req_id, int fd);
void session_on_reject(uint32_t session, const struct ps_reply_end *end);
/* privd is gone: no new requests; requests in flight get an error; each session closes
 * once its queued output is written; the event loop ends when none is left. */
void sessions_drain(void);
void sessions_close_all(void);

#endif
