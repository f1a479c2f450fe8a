/*
 * The pipe from privd's send worker is read as data arrives and fed to the incremental
 * parser, so memory follows the number of changed paths, never the stream size.
 */
#include "frontd/diffstream.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontd/diffcalc.h"
#include "frontd/frontd.h"

struct diffstream {
	int fd;
	struct event *ev;
	struct diffcalc *dc;
	diffstream_done_fn done;
	void *arg;
	bool finished;
};

static char *render(struct diffstream *ds, char *err, size_t errsz)
{
	char *changes, *out;
	size_t len;

	if (diffcalc_finish(ds->dc, err, errsz) < 0)
		return NULL;
	changes = diffcalc_to_json(ds->dc);
	if (!changes) {
		snprintf(err, errsz, "out of memory rendering the diff");
		return NULL;
	}
	len = strlen(changes) + 64;
	out = malloc(len);
	if (out)
		snprintf(out, len, "{\"changes\":%s,\"count\":%zu}", changes, diffcalc_count(ds->dc));
	else
		snprintf(err, errsz, "out of memory rendering the diff");
	free(changes);
	return out;
}

static void finish(struct diffstream *ds, const char *failure)
{
	char err[512] = "";
	char *result = NULL;

	ds->finished = true;
	event_del(ds->ev);
	if (failure)
		snprintf(err, sizeof(err), "%s", failure);
	else
		result = render(ds, err, sizeof(err));
	ds->done(ds->arg, result, result ? NULL : err);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct diffstream *ds = arg;
	char buf[65536], err[512];
	ssize_t n = read(ds->fd, buf, sizeof(buf));

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		snprintf(err, sizeof(err), "cannot read the send stream: %s", strerror(errno));
		finish(ds, err);
		return;
	}
	if (n == 0) {
		finish(ds, NULL);
		return;
	}
	if (diffcalc_feed(ds->dc, buf, (size_t)n, err, sizeof(err)) < 0)
		finish(ds, err);
}

struct diffstream *diffstream_start(int fd, diffstream_done_fn done, void *arg)
{
	struct diffstream *ds = calloc(1, sizeof(*ds));

	if (!ds || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	ds->fd = fd;
	ds->done = done;
	ds->arg = arg;
	ds->dc = diffcalc_new();
	ds->ev = event_new(g_base, fd, EV_READ | EV_PERSIST, on_read, ds);
	if (!ds->dc || !ds->ev || event_add(ds->ev, NULL) < 0)
		goto fail;
	return ds;
fail:
	if (ds) {
		if (ds->ev)
			event_free(ds->ev);
		if (ds->dc)
			diffcalc_free(ds->dc);
		free(ds);
	}
	close(fd);
	return NULL;
}

void diffstream_free(struct diffstream *ds)
{
	if (!ds)
		return;
	event_free(ds->ev);
	diffcalc_free(ds->dc);
	close(ds->fd);
	free(ds);
}
