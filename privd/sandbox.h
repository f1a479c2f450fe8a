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

/*
 * Called in a worker after it dropped to the owner: stacks a narrower allow-list on
 * the inherited one (file work only: no ioctl but FICLONE, no fork, kill, setuid or
 * socket). root_worker: a worker that kept privd's privileges to run BTRFS_IOC_SEND
 * (diff); it may also make that ioctl and the subvolume-id lookup it needs.
 */
int sandbox_worker_enter(bool root_worker);

#endif
