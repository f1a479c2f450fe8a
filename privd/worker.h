/*
 * Short-lived children for work on user data: each drops to the workspace owner's
 * uid/gids with no capabilities before it runs, so it can do only what the owner could.
 */
#ifndef WSCKPT_WORKER_H
#define WSCKPT_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#include "privd/privd.h"
#include "privd/sandbox.h"

#define WORKER_MSG_MAX 512

/* Runs in the child, after the privilege drop. Returns 0 or -errno, msg for the user. */
typedef int (*worker_job)(void *arg, char *msg, size_t msgsz);
/* Runs in privd's event loop when the child has finished (or died: rc -ECHILD). */
typedef void (*worker_done)(struct privd *pd, void *cbarg, int rc, const char *msg);

/* Pass as uid to keep privd's privileges (a root worker, e.g. for BTRFS_IOC_SEND which
 * needs CAP_SYS_ADMIN and touches no user path). */
#define WORKER_KEEP_PRIVS ((uid_t)-1)

/* Workers still running (graceful shutdown waits for them). */
int worker_active(void);

/* keep: descriptors the job uses (kept at their numbers; everything else is closed).
 * An owner worker gets SANDBOX_WORKER_FILES, a WORKER_KEEP_PRIVS one SANDBOX_WORKER_SEND. */
int worker_spawn(struct privd *pd, uid_t uid, gid_t gid, const int *keep, size_t nkeep,
		 worker_job job, void *jobarg, worker_done done, void *cbarg);

/* A root worker (privd's privileges) under the job-specific filter kind. */
int worker_spawn_root(struct privd *pd, enum sandbox_worker kind, const int *keep, size_t nkeep,
		      worker_job job, void *jobarg, worker_done done, void *cbarg);

#endif
