/*
 * Auto-cleanup runs on a libevent timer in privd's loop, one workspace at a time; each
 * snapshot removal is the same durable delete a user's cleanup uses. Keep is a count
 * ("20") or an age ("30d"); 0 in either form means disabled.
 */
#include "privd/scheduler.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"
#include "privd/advisory.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/ops.h"
#include "privd/reclaim.h"
#include "privd/wslink.h"

static struct event *cleanup_ev, *health_ev;
/* The settings the timers run with: a reload that leaves them alone must not restart
 * them (reloading more often than the interval would otherwise postpone every run). */
static struct {
	bool cleanup_on;
	uint64_t cleanup_secs, health_secs;
} armed;
static void arm_health(struct privd *pd);

/* Age in seconds of an age-mode keep ("30d"); 0 for count mode, "0d" or absurd ages. */
static long long keep_age_secs(const char *keep)
{
	unsigned long long secs;

	if (!config_duration_secs(keep, &secs) || secs >= (1ULL << 40))
		return 0;
	return (long long)secs;
}

/* No client waits for an auto-cleanup: the worker's result is only logged. */
static void auto_reclaimed(struct privd *pd, void *arg, const struct reclaim_result *res)
{
	log_info("auto-cleanup: %" PRIu64 " bytes freed in %lld ms%s", res->freed_bytes,
		 res->waited_ms, res->cleaner_done ? "" : " (the btrfs cleaner is still working)");
}

/* Kick the cleaner (and measure) in a root worker, so the space comes back now rather
 * than at the next periodic commit, without blocking the loop. */
static void auto_reclaim(struct privd *pd, struct reclaim_set *rs)
{
	struct reclaim_result res;
	int rc = reclaim_start(pd, rs, auto_reclaimed, NULL, &res);

	if (rc < 0)
		log_warn("auto-cleanup: cannot start the reclaim worker: %s; btrfs frees the space on its own later",
			 strerror(-rc));
}

static void run_cleanup(evutil_socket_t fd, short what, void *arg)
{
	struct privd *pd = arg;
	const char *keep = pd->cfg.auto_cleanup_keep;
	long long age = keep_age_secs(keep);
	long count = age ? 0 : strtol(keep, NULL, 10);
	struct reclaim_set rs;
	int total = 0;

	if (!pd->cfg.auto_cleanup || (age == 0 && count <= 0) || pd->stopping)
		return;
	reclaim_set_init(pd, &rs);
	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];
		if (w->phase != WS_READY || w->busy)
			continue; /* never under an operation in progress */
		total += retention_apply(pd, w, (size_t)count, age ? time(NULL) - age : 0, NULL, &rs);
	}
	if (total) {
		log_info("auto-cleanup removed %d snapshot(s) (keep %s)", total, keep);
		auto_reclaim(pd, &rs);
	} else {
		reclaim_set_free(&rs);
	}
}

void scheduler_arm(struct privd *pd)
{
	struct timeval tv;

	arm_health(pd);
	if (cleanup_ev && armed.cleanup_on == pd->cfg.auto_cleanup &&
	    armed.cleanup_secs == pd->cfg.auto_cleanup_interval_secs)
		return; /* a new keep applies at the next run as it is */
	if (!cleanup_ev)
		cleanup_ev = event_new(pd->base, -1, EV_PERSIST, run_cleanup, pd);
	if (!cleanup_ev)
		return;
	event_del(cleanup_ev);
	armed.cleanup_on = pd->cfg.auto_cleanup;
	armed.cleanup_secs = pd->cfg.auto_cleanup_interval_secs;
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
	if (health_ev) {
		event_free(health_ev);
		health_ev = NULL;
	}
	if (cleanup_ev) {
		event_free(cleanup_ev);
		cleanup_ev = NULL;
	}
}


/* What an operator should hear about without asking: a nearly full backend, workspaces
 * with very many snapshots, and workspaces whose live data or path went away. */
static void run_health(evutil_socket_t fd, short what, void *arg)
{
	struct privd *pd = arg;
	uint64_t total, used;

	if (fs_usage(pd->data_root_fd, &total, &used) == 0 && total > 0) {
		double pct = 100.0 * (double)used / (double)total;

		if (pct > ADVISORY_USAGE_PERCENT)
			log_warn("health: btrfs backend %s is %.1f%% full; run 'ws-ckpt cleanup' or enable auto-cleanup",
				 pd->be.mount_path, pct);
	}
	for (size_t i = 0; i < pd->reg.n; i++) {
		const struct workspace *w = pd->reg.ws[i];

		if (w->nsnaps > ADVISORY_SNAPSHOT_LIMIT)
			log_warn("health: workspace %s (%s) has %zu snapshots (more than %d)", w->ws_id,
				 w->path, w->nsnaps, ADVISORY_SNAPSHOT_LIMIT);
		if (w->phase == WS_READY && bt_is_subvol(pd->data_root_fd, w->ws_id) != 1)
			log_err("health: workspace %s (%s) has lost its live subvolume", w->ws_id, w->path);
		else if (w->phase == WS_READY && ws_link_check(pd, w) == WSL_REPLACED)
			log_err("health: workspace path %s is no longer the ws-ckpt symlink", w->path);
	}
}

static void arm_health(struct privd *pd)
{
	struct timeval tv;

	if (health_ev && armed.health_secs == pd->cfg.health_check_interval_secs)
		return;
	if (!health_ev)
		health_ev = event_new(pd->base, -1, EV_PERSIST, run_health, pd);
	if (!health_ev)
		return;
	event_del(health_ev);
	armed.health_secs = pd->cfg.health_check_interval_secs;
	if (pd->cfg.health_check_interval_secs == 0)
		return;
	tv.tv_sec = (time_t)pd->cfg.health_check_interval_secs;
	tv.tv_usec = 0;
	event_add(health_ev, &tv);
}
