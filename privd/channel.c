/*
 * The privsep channel seen from privd: read and validate frame by frame, hand requests
 * to dispatch, queue answers. A malformed frame is a protocol violation: we log it and
 * drop the channel (frontd is then restarted), never guess.
 */
#include "privd/channel.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "privd/advisory.h"
#include "privd/dispatch.h"
#include "privd/peer.h"
#include "proto/imsg.h"
#include "proto/privsep.h"

void (*channel_on_close)(void);

static struct {
	struct privd *pd;
	struct imsgbuf ib;
	struct event *rev, *wev;
	bool open;
	uint32_t generation;
} ch;

bool channel_is_open(void)
{
	return ch.open;
}

uint32_t channel_generation(void)
{
	return ch.generation;
}

static void channel_flush(void)
{
	int rc = imsgbuf_flush(&ch.ib);

	if (rc < 0) {
		log_err("privsep channel write failed: %s", strerror(errno));
		channel_close();
		return;
	}
	if (rc == 1)
		event_add(ch.wev, NULL);
	else
		event_del(ch.wev);
}

static void on_hello(struct imsg *m)
{
	char err[256];
	struct ps_reply_end rej;

	if (m->fd < 0 || m->hdr.len != 0) {
		log_err("protocol violation: CLIENT_HELLO without a socket or with payload");
		channel_close();
		return;
	}
	if (peer_register(ch.pd, m->hdr.peerid, m->fd, err, sizeof(err)) == 0) {
		const struct peer *p = peer_get(m->hdr.peerid);
		log_debug("session %u: uid %u gid %u pid %d", p->session, (unsigned)p->uid,
			  (unsigned)p->gid, (int)p->pid);
		return;
	}
	log_warn("refusing client session %u: %s", m->hdr.peerid, err);
	memset(&rej, 0, sizeof(rej));
	rej.code = WSE_PERMISSION_DENIED;
	snprintf(rej.message, sizeof(rej.message), "connection refused: %s", err);
	imsg_compose(&ch.ib, PS_HELLO_REJECT, m->hdr.peerid, -1, &rej, sizeof(rej));
	channel_flush();
}

/* 0: handled, -1: protocol violation. */
static int handle(struct imsg *m)
{
	switch (m->hdr.type) {
	case PS_CLIENT_HELLO:
		on_hello(m);
		return 0;
	case PS_CLIENT_BYE:
		if (m->fd >= 0 || m->hdr.len != 0)
			return -1;
		peer_forget(m->hdr.peerid);
		return 0;
	case PS_REQUEST:
		if (m->fd >= 0)
			return -1;
		return dispatch_request(ch.pd, m->hdr.peerid, m->data, m->hdr.len);
	default:
		return -1;
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct imsg m;
	ssize_t n = imsgbuf_read(&ch.ib);
	int rc;

	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		if (n < 0)
			log_err("privsep channel read failed: %s", strerror(errno));
		else
			log_warn("frontd closed the privsep channel");
		channel_close();
		return;
	}
	while (ch.open && (rc = imsg_get(&ch.ib, &m)) != 0) {
		if (rc < 0) {
			log_err("protocol violation from frontd: malformed frame; dropping channel");
			channel_close();
			return;
		}
		rc = handle(&m);
		if (rc < 0) {
			log_err("protocol violation from frontd (message type %u, %u bytes); dropping channel",
				m.hdr.type, m.hdr.len);
			imsg_free(&m);
			channel_close();
			return;
		}
		imsg_free(&m);
	}
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	channel_flush();
}

int channel_open(struct privd *pd, int fd)
{
	ch.pd = pd;
	if (imsgbuf_init(&ch.ib, fd) < 0)
		return -1;
	ch.rev = event_new(pd->base, fd, EV_READ | EV_PERSIST, on_read, NULL);
	ch.wev = event_new(pd->base, fd, EV_WRITE, on_write, NULL);
	if (!ch.rev || !ch.wev || event_add(ch.rev, NULL) < 0) {
		imsgbuf_clear(&ch.ib);
		return -1;
	}
	ch.open = true;
	ch.generation++;
	return 0;
}

void channel_close(void)
{
	if (!ch.open)
		return;
	ch.open = false;
	event_free(ch.rev);
	event_free(ch.wev);
	ch.rev = ch.wev = NULL;
	close(ch.ib.fd);
	imsgbuf_clear(&ch.ib);
	peer_forget_all();
	if (channel_on_close)
		channel_on_close();
}

/* One info line per finished request: caller, operation, target, result, duration. */
static void log_request(const struct req_ctx *rc, enum ws_err code)
{
	log_info("request uid=%u op=%s ws=%s result=%s duration=%lldms", rc->uid,
		 dispatch_op_name(rc->op), rc->target, code == WSE_OK ? "ok" : ws_err_name(code),
		 mono_ms() - rc->start_ms);
}

static bool live(const struct req_ctx *rc)
{
	return ch.open && rc->generation == ch.generation;
}

void reply_ok(const struct req_ctx *rc, cJSON *result)
{
	char *text;

	if (!live(rc)) {
		log_request(rc, WSE_OK);
		cJSON_Delete(result);
		return;
	}
	text = cJSON_PrintUnformatted(result);
	cJSON_Delete(result);
	if (!text) {
		reply_err(rc, WSE_INTERNAL, NULL, "out of memory rendering the result");
		return;
	}
	reply_ok_text(rc, text, strlen(text));
}

void reply_ok_text(const struct req_ctx *rc, char *text, size_t len)
{
	struct ps_reply_data d = { .req_id = rc->req_id };
	struct ps_reply_end e;
	size_t off = 0;
	const size_t chunk = IMSG_MAX_PAYLOAD - sizeof(d);

	log_request(rc, WSE_OK);
	if (!live(rc)) {
		free(text);
		return;
	}
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (imsg_compose2(&ch.ib, PS_REPLY_DATA, rc->session, -1, &d, sizeof(d), text + off, n) < 0)
			break;
		off += n;
	}
	free(text);
	memset(&e, 0, sizeof(e));
	e.req_id = rc->req_id;
	e.code = off == len ? WSE_OK : WSE_INTERNAL;
	if (e.code != WSE_OK)
		snprintf(e.message, sizeof(e.message), "out of memory sending the result");
	else if (rc->advisory)
		advisory_fill(ch.pd, rc->session, &e);
	imsg_compose(&ch.ib, PS_REPLY_END, rc->session, -1, &e, sizeof(e));
	channel_flush();
}

void reply_err(const struct req_ctx *rc, enum ws_err code, const char *hint, const char *fmt, ...)
{
	struct ps_reply_end e;
	va_list ap;

	log_request(rc, code);
	if (!live(rc))
		return;
	memset(&e, 0, sizeof(e));
	e.req_id = rc->req_id;
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	if (hint)
		snprintf(e.hint, sizeof(e.hint), "%s", hint);
	imsg_compose(&ch.ib, PS_REPLY_END, rc->session, -1, &e, sizeof(e));
	channel_flush();
}

void reply_stream(const struct req_ctx *rc, int fd)
{
	struct ps_reply_data d = { .req_id = rc->req_id };

	if (!live(rc))
		return;
	imsg_compose(&ch.ib, PS_REPLY_STREAM, rc->session, fd, &d, sizeof(d));
	channel_flush();
}

void reply_stream_end(const struct req_ctx *rc)
{
	struct ps_reply_end e;

	log_request(rc, WSE_OK);
	if (!live(rc))
		return;
	memset(&e, 0, sizeof(e));
	e.req_id = rc->req_id;
	e.code = WSE_OK;
	if (rc->advisory)
		advisory_fill(ch.pd, rc->session, &e);
	imsg_compose(&ch.ib, PS_REPLY_END, rc->session, -1, &e, sizeof(e));
	channel_flush();
}
