/*
 * Space reclaim after snapshot deletes: see reclaim.h. The wait runs in a root worker so
 * privd's loop keeps serving everyone else; privd only measures free space before and
 * after (fstatvfs of the data root) and turns the worker's report into a result.
 */
#include "privd/reclaim.h"

#include <btrfsutil.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "privd/fsutil.h"
#include "privd/worker.h"

#define RECLAIM_POLL_MS 100  /* between looks at the removed subvolumes */
#define RECLAIM_KICK_MS 1000 /* commit again this often while waiting: each commit lets the
			      * transaction thread wake the cleaner if it went back to sleep */

struct reclaim_job {
	uint64_t *ids;
	size_t n;
	uint64_t free_before;
	long long start_ms;
	int fs_fd;   /* privd's data root (not ours to close): any fd on the filesystem */
	int stop_rd; /* worker's end: EOF when privd wants the wait to end */
	int stop_wr; /* privd's end, closed by reclaim_stop_all() or when the job ends */
	reclaim_done done;
	void *arg;
	struct reclaim_job *next;
};

static struct reclaim_job *running; /* jobs with a live worker, for reclaim_stop_all() */

/* ---- collecting ids (privd) ------------------------------------------------------ */

static uint64_t free_bytes(int fd)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) < 0) {
		log_warn("reclaim: fstatvfs of the backend: %s", strerror(errno));
		return 0;
	}
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

void reclaim_set_init(struct privd *pd, struct reclaim_set *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->free_before = free_bytes(pd->data_root_fd);
}

void reclaim_set_free(struct reclaim_set *rs)
{
	free(rs->ids);
	rs->ids = NULL;
	rs->n = rs->cap = 0;
}

static int set_add(struct reclaim_set *rs, uint64_t id)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		uint64_t *ids = realloc(rs->ids, cap * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		rs->ids = ids;
		rs->cap = cap;
	}
	rs->ids[rs->n++] = id;
	return 0;
}

int reclaim_note(struct privd *pd, struct reclaim_set *rs, const char *ws_id, const char *snap_id)
{
	enum btrfs_util_error be;
	uint64_t id;
	int bucket, fd;

	bucket = open_beneath(pd->snapshots_fd, ws_id, O_RDONLY | O_DIRECTORY);
	if (bucket < 0)
		return bucket == -ENOENT ? 0 : bucket;
	fd = open_beneath(bucket, snap_id, O_RDONLY | O_DIRECTORY);
	close(bucket);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd; /* a missing snapshot frees nothing */
	errno = 0;
	be = btrfs_util_subvolume_id_fd(fd, &id);
	close(fd);
	if (be != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	return set_add(rs, id) < 0 ? -ENOMEM : 1;
}

void reclaim_unnote(struct reclaim_set *rs)
{
	if (rs->n)
		rs->n--;
}

/* ---- the worker (root, SANDBOX_WORKER_RECLAIM) --------------------------------- */

static int fs_sync(int fd, char *msg, size_t msgsz)
{
	errno = 0;
	if (btrfs_util_sync_fd(fd) != BTRFS_UTIL_OK) {
		int e = errno ? errno : EIO;
		snprintf(msg, msgsz, "BTRFS_IOC_SYNC: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* Drop the ids the cleaner is done with (root item gone). Remaining count or -errno. */
static int prune_cleaned(struct reclaim_job *j, char *msg, size_t msgsz)
{
	size_t k = 0;

	for (size_t i = 0; i < j->n; i++) {
		enum btrfs_util_error be;

		errno = 0;
		be = btrfs_util_subvolume_info_fd(j->fs_fd, j->ids[i], NULL);
		if (be == BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND)
			continue;
		if (be != BTRFS_UTIL_OK) {
			int e = errno ? errno : EIO;
			snprintf(msg, msgsz, "looking up subvolume %" PRIu64 ": %s (%s)", j->ids[i],
				 btrfs_util_strerror(be), strerror(e));
			return -e;
		}
		j->ids[k++] = j->ids[i];
	}
	j->n = k;
	return (int)k;
}

/* privd closed its end of the stop pipe (graceful stop) or died. */
static bool stop_requested(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL); /* EINTR only shortens one poll interval */
}

#ifdef WSCKPT_TEST_HOOKS
/* Test builds stand in for a slow cleaner (WSCKPT_TEST_RECLAIM_STALL: nothing is ever
 * cleaned) and a shorter bound (WSCKPT_TEST_RECLAIM_WAIT_MS), so the bound and the early
 * end on a graceful stop are tested without a filesystem that is really slow. */
static int still_pending(struct reclaim_job *j, char *msg, size_t msgsz)
{
	return getenv("WSCKPT_TEST_RECLAIM_STALL") ? (int)j->n : prune_cleaned(j, msg, msgsz);
}

static long long wait_bound_ms(void)
{
	const char *v = getenv("WSCKPT_TEST_RECLAIM_WAIT_MS");

	return v ? atoll(v) : RECLAIM_WAIT_MS;
}
#else
#define still_pending(j, msg, msgsz) prune_cleaned(j, msg, msgsz)
#define wait_bound_ms() ((long long)RECLAIM_WAIT_MS)
#endif

/* Wait until every id is cleaned, the bound expires or privd asks us to stop. */
static int wait_cleaner(struct reclaim_job *j, char *msg, size_t msgsz)
{
	long long t0 = mono_ms(), kicked = t0, bound = wait_bound_ms();
	int left;

	while ((left = still_pending(j, msg, msgsz)) > 0) {
		long long now = mono_ms();

		if (now - t0 >= bound || stop_requested(j->stop_rd))
			break;
		if (now - kicked >= RECLAIM_KICK_MS) {
			int rc = fs_sync(j->fs_fd, msg, msgsz);
			if (rc < 0)
				return rc;
			kicked = now;
		}
		sleep_ms(RECLAIM_POLL_MS);
	}
	return left;
}

/* Reports "<pending> <waited_ms>" in msg. */
static int reclaim_worker(void *arg, char *msg, size_t msgsz)
{
	struct reclaim_job *j = arg;
	long long t0 = mono_ms();
	int rc, left;

	rc = fs_sync(j->fs_fd, msg, msgsz);
	if (rc < 0)
		return rc;
	left = wait_cleaner(j, msg, msgsz);
	if (left < 0)
		return left;
	/* The cleaner's frees are pinned until the transaction that made them commits. */
	rc = fs_sync(j->fs_fd, msg, msgsz);
	if (rc < 0)
		return rc;
	snprintf(msg, msgsz, "%d %lld", left, mono_ms() - t0);
	return 0;
}

/* ---- privd side ------------------------------------------------------------------- */

static void job_unlink(struct reclaim_job *j)
{
	for (struct reclaim_job **p = &running; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			break;
		}
	}
}

static void job_free(struct reclaim_job *j)
{
	if (j->stop_rd >= 0)
		close(j->stop_rd);
	if (j->stop_wr >= 0)
		close(j->stop_wr);
	free(j->ids);
	free(j);
}

static void result_now(struct privd *pd, uint64_t before, size_t pending, long long waited,
		       struct reclaim_result *res)
{
	uint64_t after = free_bytes(pd->data_root_fd);

	res->freed_bytes = after > before ? after - before : 0;
	res->pending = pending;
	res->cleaner_done = pending == 0;
	res->waited_ms = waited;
}

static void reclaim_finished(struct privd *pd, void *arg, int rc, const char *msg)
{
	struct reclaim_job *j = arg;
	struct reclaim_result res;
	long long waited = mono_ms() - j->start_ms;
	int pending = -1;

	job_unlink(j);
	if (rc < 0 || sscanf(msg, "%d %lld", &pending, &waited) != 2 || pending < 0) {
		log_warn("reclaim: waiting for the btrfs cleaner failed: %s", msg);
		pending = (int)j->n; /* unknown: count every removed subvolume as pending */
	}
	result_now(pd, j->free_before, (size_t)pending, waited, &res);
	log_info("reclaim: %zu of %zu removed subvolume(s) cleaned in %lld ms, %" PRIu64 " bytes freed",
		 j->n - res.pending, j->n, res.waited_ms, res.freed_bytes);
	j->done(pd, j->arg, &res);
	job_free(j);
}

void reclaim_skip(struct privd *pd, struct reclaim_set *rs, struct reclaim_result *res)
{
	result_now(pd, rs->free_before, rs->n, 0, res);
	reclaim_set_free(rs);
}

int reclaim_start(struct privd *pd, struct reclaim_set *rs, reclaim_done done, void *arg,
		  struct reclaim_result *res)
{
	struct reclaim_job *j = calloc(1, sizeof(*j));
	int p[2], keep[2], rc;

	if (!j || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = j ? -errno : -ENOMEM;
		free(j);
		reclaim_skip(pd, rs, res);
		return rc;
	}
	j->ids = rs->ids;
	j->n = rs->n;
	j->free_before = rs->free_before;
	rs->ids = NULL;
	reclaim_set_free(rs);
	j->start_ms = mono_ms();
	j->fs_fd = pd->data_root_fd;
	j->stop_rd = p[0];
	j->stop_wr = p[1];
	j->done = done;
	j->arg = arg;
	keep[0] = j->fs_fd;
	keep[1] = j->stop_rd;
	rc = worker_spawn_root(pd, SANDBOX_WORKER_RECLAIM, keep, 2, reclaim_worker, j,
			       reclaim_finished, j);
	if (rc < 0) {
		result_now(pd, j->free_before, j->n, 0, res);
		job_free(j);
		return rc;
	}
	/* Only the worker reads; privd keeps the write end as the stop signal. */
	close(j->stop_rd);
	j->stop_rd = -1;
	j->next = running;
	running = j;
	return 0;
}

void reclaim_stop_all(void)
{
	for (struct reclaim_job *j = running; j; j = j->next) {
		if (j->stop_wr >= 0) {
			close(j->stop_wr);
			j->stop_wr = -1;
		}
	}
}

cJSON *reclaim_json(const struct reclaim_result *res)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "freed_bytes", (double)res->freed_bytes);
	cJSON_AddBoolToObject(o, "cleaner_done", res->cleaner_done);
	cJSON_AddNumberToObject(o, "waited_ms", (double)res->waited_ms);
	cJSON_AddNumberToObject(o, "pending", (double)res->pending);
	return o;
}
