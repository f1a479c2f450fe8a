/*
 * Auto-cleanup runs on a libevent timer in privd's loop, one workspace at a time; each
 * snapshot removal is the same durable delete a user's cleanup uses. Keep is a count
 * ("20") or an age ("30d"); 0 in either form means disabled.
 */
#include "privd/scheduler.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "privd/ops.h"

static struct event *cleanup_ev;

/* Age in seconds of an age-mode keep ("30d"), 0 for count mode or invalid. */
static long long keep_age_secs(const char *keep)
{
	size_t len = strlen(keep);
	long long n, mult;

	if (len < 2 || !isalpha((unsigned char)keep[len - 1]))
		return 0;
	n = strtoll(keep, NULL, 10);
	switch (tolower((unsigned char)keep[len - 1])) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 604800; break;
	default: return 0;
	}
	return n > 0 && n < (1LL << 40) / mult ? n * mult : 0;
}

static void run_cleanup(evutil_socket_t fd, short what, void *arg)
{
	struct privd *pd = arg;
	const char *keep = pd->cfg.auto_cleanup_keep;
	long long age = keep_age_secs(keep);
	long count = age ? 0 : strtol(keep, NULL, 10);
	int total = 0;

	if (!pd->cfg.auto_cleanup || (age == 0 && count <= 0))
		return;
	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];
		if (w->phase != WS_READY || w->busy)
			continue; /* never under an operation in progress */
		total += retention_apply(pd, w, (size_t)count, age ? time(NULL) - age : 0, NULL);
	}
	if (total)
		log_info("auto-cleanup removed %d snapshot(s) (keep %s)", total, keep);
}

void scheduler_arm(struct privd *pd)
{
	struct timeval tv;

	if (!cleanup_ev)
		cleanup_ev = event_new(pd->base, -1, EV_PERSIST, run_cleanup, pd);
	if (!cleanup_ev)
		return;
	event_del(cleanup_ev);
	if (!pd->cfg.auto_cleanup || pd->cfg.auto_cleanup_interval_secs == 0)
		return;
	tv.tv_sec = (time_t)pd->cfg.auto_cleanup_interval_secs;
	tv.tv_usec = 0;
	event_add(cleanup_ev, &tv);
	log_info("auto-cleanup every %llus, keep %s",
		 (unsigned long long)pd->cfg.auto_cleanup_interval_secs, pd->cfg.auto_cleanup_keep);
}

void scheduler_stop(void)
{
	if (cleanup_ev) {
		event_free(cleanup_ev);
		cleanup_ev = NULL;
	}
}
