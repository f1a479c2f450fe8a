/* frontd's end of the privsep channel: privd is trusted, but frames are still checked. */
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "frontd/frontd.h"
#include "proto/imsg.h"

static struct imsgbuf ib;
static struct event *rev, *wev, *deadline;
static bool dead;

/* How long replies already received may take to reach their clients once privd is gone. */
#define DRAIN_SECS 2

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(g_base);
}

static void fatal_channel(const char *why)
{
	struct timeval tv = { DRAIN_SECS, 0 };

	if (dead)
		return;
	dead = true;
	/* Without privd there is nothing to serve: exit (privd restarts us if it lives), but
	 * first hand clients the replies privd sent before it closed the channel (a graceful
	 * stop answers requests in flight, then closes). */
	log_err("privsep channel: %s; exiting", why);
	event_del(rev);
	event_del(wev);
	deadline = evtimer_new(g_base, drain_timeout, NULL);
	if (!deadline || evtimer_add(deadline, &tv) < 0)
		event_base_loopbreak(g_base);
	sessions_drain();
}

static void flush(void)
{
	int rc = imsgbuf_flush(&ib);

	if (rc < 0)
		fatal_channel(strerror(errno));
	else if (rc == 1)
		event_add(wev, NULL);
	else
		event_del(wev);
}

static void handle(struct imsg *m)
{
	switch (m->hdr.type) {
	case PS_REPLY_DATA:
		if (m->hdr.len < sizeof(struct ps_reply_data))
			break;
		{
			struct ps_reply_data d;
			memcpy(&d, m->data, sizeof(d));
			session_on_data(m->hdr.peerid, d.req_id, (char *)m->data + sizeof(d),
					m->hdr.len - sizeof(d));
		}
		return;
	case PS_REPLY_END:
	case PS_HELLO_REJECT:
		if (m->hdr.len != sizeof(struct ps_reply_end))
			break;
		{
			struct ps_reply_end e;
			memcpy(&e, m->data, sizeof(e));
			e.message[sizeof(e.message) - 1] = '\0';
			e.hint[sizeof(e.hint) - 1] = '\0';
			if (m->hdr.type == PS_REPLY_END)
				session_on_end(m->hdr.peerid, &e);
			else
				session_on_reject(m->hdr.peerid, &e);
		}
		return;
	case PS_REPLY_STREAM:
		if (m->hdr.len != sizeof(struct ps_reply_data) || m->fd < 0)
			break;
		{
			struct ps_reply_data d;
			memcpy(&d, m->data, sizeof(d));
			session_on_stream(m->hdr.peerid, d.req_id, m->fd);
			m->fd = -1; /* the session owns it now */
		}
		return;
	default:
		break;
	}
	fatal_channel("unexpected message from privd");
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct imsg m;
	ssize_t n = imsgbuf_read(&ib);
	int rc;

	if (n == 0) {
		fatal_channel("privd closed the channel");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN)
			fatal_channel(strerror(errno));
		return;
	}
	while ((rc = imsg_get(&ib, &m)) > 0) {
		if (m.fd >= 0 && m.hdr.type != PS_REPLY_STREAM) {
			imsg_free(&m);
			fatal_channel("unexpected descriptor from privd");
			return;
		}
		handle(&m);
		imsg_free(&m);
	}
	if (rc < 0)
		fatal_channel("malformed frame from privd");
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	flush();
}

int privchan_open(int fd)
{
	if (imsgbuf_init(&ib, fd) < 0)
		return -1;
	rev = event_new(g_base, fd, EV_READ | EV_PERSIST, on_read, NULL);
	wev = event_new(g_base, fd, EV_WRITE, on_write, NULL);
	if (!rev || !wev || event_add(rev, NULL) < 0)
		return -1;
	return 0;
}

int privchan_send(uint32_t type, uint32_t session, int fd, const void *a, size_t alen,
		  const void *b, size_t blen)
{
	int rc;

	if (dead) {
		errno = EPIPE;
		return -1;
	}
	rc = imsg_compose2(&ib, type, session, fd, a, alen, b, blen);

	if (rc < 0)
		return rc;
	flush();
	return 0;
}
