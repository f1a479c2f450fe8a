/* daemon.lock: single instance (flock) and unclean-shutdown detection. */
#ifndef WSCKPT_LOCKFILE_H
#define WSCKPT_LOCKFILE_H

#include <stdbool.h>
#include <stddef.h>

#define LOCK_FILE "daemon.lock"

/*
 * Take the lock in state_dir_fd. Returns the held fd, or -1 with err filled (another
 * instance, I/O error). *stale is set when the file was left by a process that died.
 */
int lockfile_acquire(int state_dir_fd, const char *state_dir, bool *stale, char *err, size_t errsz);
/* Clean shutdown: remove the file while still holding the lock, then close. */
void lockfile_release(int state_dir_fd, int lock_fd);

#endif
