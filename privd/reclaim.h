/*
 * Space reclaim after snapshot deletes. Deleting a subvolume only unlinks it: btrfs's
 * cleaner thread frees its extents later, so a full backend stays full right after a
 * cleanup. A root worker commits the transaction (BTRFS_IOC_SYNC, which also wakes the
 * cleaner), waits a bounded time until every removed subvolume is dropped, commits
 * again so the freed extents become usable, and reports how much space came back.
 */
#ifndef WSCKPT_RECLAIM_H
#define WSCKPT_RECLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "privd/privd.h"

struct cJSON;

/* How long the worker waits for the cleaner (the reply waits as long). */
#define RECLAIM_WAIT_MS 30000

/* Subvolume ids of removed snapshots, collected before each delete. */
struct reclaim_set {
	uint64_t *ids;
	size_t n, cap;
	uint64_t free_before; /* bytes available to unprivileged writers before the deletes */
};

struct reclaim_result {
	uint64_t freed_bytes;  /* max(0, available after - available before) */
	bool cleaner_done;     /* every removed subvolume was dropped within the bound */
	long long waited_ms;
	size_t pending;        /* removed subvolumes the cleaner had not dropped yet */
};

/* Runs in privd's loop when the worker is done (or failed to report: best effort). */
typedef void (*reclaim_done)(struct privd *pd, void *arg, const struct reclaim_result *res);

/* Empty set and the "before" free space. Never fails: an unknown size reads as 0. */
void reclaim_set_init(struct privd *pd, struct reclaim_set *rs);
void reclaim_set_free(struct reclaim_set *rs);
/* Record the subvolume id of snapshot snap_id of ws_id (call before deleting it).
 * 1 recorded, 0 nothing to record (no subvolume), -errno on failure. */
int reclaim_note(struct privd *pd, struct reclaim_set *rs, const char *ws_id, const char *snap_id);
/* Forget the last recorded id (its delete failed). */
void reclaim_unnote(struct reclaim_set *rs);

/*
 * Start the worker; rs is consumed (emptied) either way. 0: done() will be called
 * later; -errno: no worker, done() is not called and *res says what is known now.
 */
int reclaim_start(struct privd *pd, struct reclaim_set *rs, reclaim_done done, void *arg,
		  struct reclaim_result *res);

/* No wait: *res from the space available now; rs is consumed. */
void reclaim_skip(struct privd *pd, struct reclaim_set *rs, struct reclaim_result *res);

/* Graceful stop: running waits end now (final commit, then the result). */
void reclaim_stop_all(void);

/* The reply's "space" object. */
struct cJSON *reclaim_json(const struct reclaim_result *res);

#endif
