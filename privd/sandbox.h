/*
 * privd's confinement once bootstrap is done (lock, state, mount, socket): start the
 * frontd launcher, keep only the capabilities privd still needs (bounding set too),
 * set no_new_privs and install a seccomp allow-list without execve. See SECURITY.md,
 * "Least privilege".
 */
#ifndef WSCKPT_PRIVD_SANDBOX_H
#define WSCKPT_PRIVD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

/* The empty directory frontd chroots into, inside the (root-only) state directory. */
#define FRONTD_ROOT_DIR "frontd-root"

/*
 * Everything above, in order. frontd_path is the binary the launcher will exec.
 * Returns 0, or -1 with err set (privd must then stop: it is not confined).
 */
int sandbox_privd_enter(struct privd *pd, const char *frontd_path, char *err, size_t errsz);

/* Which narrower allow-list a worker stacks on the one it inherits from privd. */
enum sandbox_worker {
	SANDBOX_WORKER_FILES,   /* owner's file work: no ioctl but FICLONE, no fork, kill,
				 * setuid or socket */
	SANDBOX_WORKER_SEND,    /* root, diff: BTRFS_IOC_SEND and the subvolume-id lookup */
	SANDBOX_WORKER_RECLAIM, /* root, cleanup: BTRFS_IOC_SYNC, the root-tree search that
				 * tells whether a deleted subvolume is cleaned, and sleeping */
};

/* Called in a worker after its privilege drop (if any), last before the job runs. */
int sandbox_worker_enter(enum sandbox_worker kind);

#endif
