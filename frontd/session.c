/*
 * Client sessions: accept, identify (privd re-reads the identity from the socket we pass
 * it), frame NDJSON lines with a hard size cap, keep one request in flight per session
 * so answers stay in order, and bound every wait with a timeout.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/validate.h"
#include "frontd/diffstream.h"
#include "frontd/frontd.h"
#include "frontd/request.h"
#include "proto/linebuf.h"

#define RESULT_MAX (64u * 1024u * 1024u)
#define IDLE_TIMEOUT_S 300
#define WRITE_TIMEOUT_S 30
/* Answers a client has not read yet: past this, no new request is taken from it. */
#define PENDING_OUTPUT_MAX (4u * 1024u * 1024u)

struct session {
	struct session *next;
	uint32_t id;
	uid_t uid;
	struct bufferevent *bev;
	bool busy;
	bool closing;
	bool eof; /* the client shut down its write side */
	uint64_t req_id;
	char idtext[32];
	struct evbuffer *result;
	/* diff in flight: the stream parser and the privd verdict, both needed to answer */
	struct diffstream *ds;
	bool ds_done, end_seen;
	char *ds_result;
	char ds_err[512];
	struct ps_reply_end end;
};

static struct session *sessions;
static unsigned nsessions;
static bool draining; /* privd is gone: finish writing, then frontd exits */
static uint32_t next_session_id = 1;
static struct event *accept_ev;

static struct session *find(uint32_t id)
{
	for (struct session *s = sessions; s; s = s->next) {
		if (s->id == id)
			return s;
	}
	return NULL;
}

static unsigned count_uid(uid_t uid)
{
	unsigned n = 0;

	for (struct session *s = sessions; s; s = s->next)
		n += s->uid == uid;
	return n;
}

static void session_free(struct session *s)
{
	struct session **pp;

	for (pp = &sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	nsessions--;
	diffstream_free(s->ds);
	free(s->ds_result);
	privchan_send(PS_CLIENT_BYE, s->id, -1, NULL, 0, NULL, 0);
	bufferevent_free(s->bev);
	evbuffer_free(s->result);
	free(s);
	if (draining && !sessions)
		event_base_loopbreak(g_base);
}

static void write_line(struct session *s, const char *text)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\n", 1);
}

/* Error texts may quote client bytes: replace invalid UTF-8 so the reply stays JSON. */
static cJSON *utf8_string(const char *text)
{
	size_t len = strlen(text);
	char *copy;
	cJSON *item;

	if (utf8_valid(text, len))
		return cJSON_CreateString(text);
	copy = strdup(text);
	if (!copy)
		return cJSON_CreateString("(unprintable)");
	for (size_t i = 0; i < len;) {
		size_t n = 1;
		/* Keep the longest valid sequence at i (1..4 bytes), else replace one byte. */
		while (n <= 4 && i + n <= len && !utf8_valid(copy + i, n))
			n++;
		if (n > 4 || i + n > len) {
			copy[i] = '?';
			n = 1;
		}
		i += n;
	}
	item = cJSON_CreateString(copy);
	free(copy);
	return item;
}

static void send_error(struct session *s, const char *idtext, enum ws_err code, const char *msg,
		       const char *hint)
{
	cJSON *root = cJSON_CreateObject(), *e;
	char *text;

	cJSON_AddItemToObject(root, "id", cJSON_CreateRaw(idtext));
	cJSON_AddBoolToObject(root, "ok", false);
	e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "code", ws_err_name(code));
	cJSON_AddItemToObject(e, "message", utf8_string(msg));
	if (hint && hint[0])
		cJSON_AddItemToObject(e, "hint", utf8_string(hint));
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text) {
		write_line(s, text);
		free(text);
	}
}

/* Stop reading; free the session once what we queued has been written. */
static void close_after_write(struct session *s)
{
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_free(s);
}

static void forward(struct session *s, struct parsed_request *pr)
{
	pr->req.req_id = ++s->req_id;
	memcpy(s->idtext, pr->idtext, sizeof(s->idtext));
	if (privchan_send(PS_REQUEST, s->id, -1, &pr->req, sizeof(pr->req), pr->metadata,
			  pr->req.metadata_len) < 0) {
		send_error(s, pr->idtext, WSE_BUSY, "daemon is not reachable", "Retry in a moment.");
		return;
	}
	s->busy = true;
	evbuffer_drain(s->result, evbuffer_get_length(s->result));
}

static void handle_line(struct session *s, const char *line, size_t len)
{
	struct parsed_request *pr = malloc(sizeof(*pr));
	char err[512];
	enum ws_err code;

	if (!pr) {
		send_error(s, "null", WSE_INTERNAL, "out of memory", NULL);
		return;
	}
	code = request_parse(line, len, pr, err, sizeof(err));
	if (code != WSE_OK)
		send_error(s, pr->idtext, code, err, NULL);
	else
		forward(s, pr);
	free(pr->metadata);
	free(pr);
}

/* Handle complete lines while no request is in flight. */
static void process_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (!s->busy && !s->closing &&
	       evbuffer_get_length(bufferevent_get_output(s->bev)) < PENDING_OUTPUT_MAX) {
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		char *line;

		if (eol.pos < 0) {
			if (evbuffer_get_length(in) >= NDJSON_LINE_MAX) {
				send_error(s, "null", WSE_PROTOCOL, "request line longer than 1 MiB", NULL);
				close_after_write(s);
			}
			return;
		}
		if ((size_t)eol.pos + 1 > NDJSON_LINE_MAX) {
			send_error(s, "null", WSE_PROTOCOL, "request line longer than 1 MiB", NULL);
			close_after_write(s);
			return;
		}
		line = malloc((size_t)eol.pos + 1);
		if (!line) {
			close_after_write(s);
			return;
		}
		evbuffer_remove(in, line, (size_t)eol.pos + 1);
		line[eol.pos] = '\0';
		handle_line(s, line, (size_t)eol.pos);
		free(line);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->closing)
		session_free(s);
	else
		process_input(s); /* the client read its answers: take the next requests */
}

/* After the client's EOF: answer what it sent, then close. */
static void drain_after_eof(struct session *s)
{
	process_input(s);
	if (!s->busy && !s->closing)
		close_after_write(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_debug("session %u timed out", s->id);
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !s->eof) {
		s->eof = true;
		bufferevent_disable(bev, EV_READ);
		drain_after_eof(s);
		return;
	}
	session_free(s);
}

void session_on_data(uint32_t id, uint64_t req_id, const void *data, size_t len)
{
	struct session *s = find(id);

	if (!s || !s->busy || s->req_id != req_id)
		return;
	if (evbuffer_get_length(s->result) + len > RESULT_MAX)
		return; /* session_on_end reports the overflow */
	evbuffer_add(s->result, data, len);
}

static void finish_reply(struct session *s, const struct ps_reply_end *e)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_printf(out, "{\"id\":%s,\"ok\":true,\"result\":", s->idtext);
	evbuffer_add_buffer(out, s->result);
	if (e->has_advisory)
		evbuffer_add_printf(out, ",\"advisory\":{\"over_limit_workspace_count\":%" PRIu32
				    ",\"snapshot_limit\":%" PRIu32 ",\"fs_total_bytes\":%" PRIu64
				    ",\"fs_used_bytes\":%" PRIu64 "}",
				    e->adv_over_limit, e->adv_snapshot_limit, e->adv_fs_total_bytes,
				    e->adv_fs_used_bytes);
	evbuffer_add(out, "}\n", 2);
}

static void after_reply(struct session *s)
{
	if (s->eof)
		drain_after_eof(s);
	else
		process_input(s);
}

/* A diff is answered when both the stream has ended and privd has said how it went. */
static void maybe_finish_diff(struct session *s)
{
	if (!s->end_seen || !s->ds_done)
		return;
	s->busy = false;
	if (s->end.code != WSE_OK)
		send_error(s, s->idtext, (enum ws_err)s->end.code, s->end.message, s->end.hint);
	else if (!s->ds_result)
		send_error(s, s->idtext, WSE_BTRFS, s->ds_err, NULL);
	else {
		evbuffer_drain(s->result, evbuffer_get_length(s->result));
		evbuffer_add(s->result, s->ds_result, strlen(s->ds_result));
		finish_reply(s, &s->end);
	}
	diffstream_free(s->ds);
	s->ds = NULL;
	free(s->ds_result);
	s->ds_result = NULL;
	s->ds_done = s->end_seen = false;
	after_reply(s);
}

static void on_diff_done(void *arg, char *result, const char *err)
{
	struct session *s = arg;

	s->ds_done = true;
	s->ds_result = result;
	if (err)
		snprintf(s->ds_err, sizeof(s->ds_err), "cannot read the change list: %s", err);
	maybe_finish_diff(s);
}

void session_on_stream(uint32_t id, uint64_t req_id, int fd)
{
	struct session *s = find(id);

	if (!s || !s->busy || s->req_id != req_id || s->ds || s->ds_done) {
		close(fd); /* the sender gets EPIPE and stops */
		return;
	}
	s->ds = diffstream_start(fd, on_diff_done, s);
	if (!s->ds)
		on_diff_done(s, NULL, "out of memory");
}

void session_on_end(uint32_t id, const struct ps_reply_end *e)
{
	struct session *s = find(id);

	if (!s || !s->busy || s->req_id != e->req_id)
		return;
	if (s->ds || s->ds_done) {
		s->end = *e;
		s->end_seen = true;
		maybe_finish_diff(s);
		return;
	}
	s->busy = false;
	if (e->code == WSE_OK && evbuffer_get_length(s->result) > 0)
		finish_reply(s, e);
	else if (e->code == WSE_OK)
		send_error(s, s->idtext, WSE_INTERNAL, "empty result from daemon", NULL);
	else
		send_error(s, s->idtext, (enum ws_err)e->code, e->message, e->hint);
	after_reply(s);
}

void session_on_reject(uint32_t id, const struct ps_reply_end *e)
{
	struct session *s = find(id);

	if (!s)
		return;
	send_error(s, "null", (enum ws_err)e->code, e->message, NULL);
	close_after_write(s);
}

static void reject_now(int fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"Busy\",\"message\":\"%s\",\"hint\":\"Retry in a moment.\"}}\n",
			 why);

	if (send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("cannot tell a rejected client why: %s", strerror(errno));
	close(fd);
}

static struct session *session_new(int fd, uid_t uid)
{
	struct timeval rt = { IDLE_TIMEOUT_S, 0 }, wt = { WRITE_TIMEOUT_S, 0 };
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->bev = bufferevent_socket_new(g_base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->result = evbuffer_new();
	if (!s->bev || !s->result) {
		if (s->bev)
			bufferevent_free(s->bev);
		if (s->result)
			evbuffer_free(s->result);
		free(s);
		return NULL;
	}
	s->id = next_session_id++;
	s->uid = uid;
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	/* Stop reading past one maximal line: a flooding client cannot grow our memory. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, NDJSON_LINE_MAX + 1);
	bufferevent_set_timeouts(s->bev, &rt, &wt);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->next = sessions;
	sessions = s;
	nsessions++;
	return s;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct session *s;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
		close(fd);
		return;
	}
	if (g_opts.max_conn && nsessions >= g_opts.max_conn) {
		reject_now(fd, "too many connections");
		return;
	}
	if (g_opts.max_per_uid && count_uid(uc.uid) >= g_opts.max_per_uid) {
		reject_now(fd, "too many connections from this user");
		return;
	}
	s = session_new(fd, uc.uid);
	if (!s) {
		close(fd);
		return;
	}
	/* privd takes the identity from this very socket, not from us. */
	if (privchan_send(PS_CLIENT_HELLO, s->id, fd, NULL, 0, NULL, 0) < 0) {
		send_error(s, "null", WSE_BUSY, "daemon is not reachable", "Retry in a moment.");
		close_after_write(s);
	}
}

void listener_start(int listen_fd)
{
	accept_ev = event_new(g_base, listen_fd, EV_READ | EV_PERSIST, on_accept, NULL);
	if (accept_ev)
		event_add(accept_ev, NULL);
}

void sessions_drain(void)
{
	draining = true;
	if (accept_ev) {
		event_free(accept_ev);
		accept_ev = NULL;
	}
	for (struct session *s = sessions, *next; s; s = next) {
		next = s->next;
		if (s->busy) {
			s->busy = false;
			send_error(s, s->idtext, WSE_BUSY, "the daemon stopped before answering",
				   "The request may or may not have taken effect: check (e.g. 'ws-ckpt list') before retrying.");
		}
		close_after_write(s); /* may free s */
	}
	if (!sessions)
		event_base_loopbreak(g_base);
}

void sessions_close_all(void)
{
	if (accept_ev) {
		event_free(accept_ev);
		accept_ev = NULL;
	}
	while (sessions) {
		struct session *s = sessions;
		sessions = s->next;
		bufferevent_free(s->bev);
		evbuffer_free(s->result);
		free(s);
	}
	nsessions = 0;
}
