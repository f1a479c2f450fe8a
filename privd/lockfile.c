/* The lockfile holds our PID; its presence at start means the last run did not stop cleanly. */
#include "privd/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_once(int dirfd, const char *state_dir, bool *existed, char *err, size_t errsz)
{
	struct stat a, b;
	int fd;

	*existed = faccessat(dirfd, LOCK_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	fd = openat(dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s/%s: %s", state_dir, LOCK_FILE, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		int e = errno;
		if (n > 0)
			pid[n] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK || e == EAGAIN || n >= 0)
			snprintf(err, errsz,
				 "another ws-ckptd (pid %s) is already running on state dir %s (lock %s/%s held); stop it first",
				 pid[0] ? pid : "?", state_dir, state_dir, LOCK_FILE);
		else
			snprintf(err, errsz, "cannot lock %s/%s: %s", state_dir, LOCK_FILE, strerror(e));
		return -1;
	}
	/* The previous holder may have unlinked the file between our open and flock. */
	if (fstat(fd, &a) < 0 || fstatat(dirfd, LOCK_FILE, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return -2;
	}
	return fd;
}

int lockfile_acquire(int dirfd, const char *state_dir, bool *stale, char *err, size_t errsz)
{
	char pid[32];
	int fd, len;

	for (int tries = 0; tries < 5; tries++) {
		fd = lock_once(dirfd, state_dir, stale, err, errsz);
		if (fd != -2)
			break;
	}
	if (fd < 0) {
		if (fd == -2)
			snprintf(err, errsz, "lockfile %s/%s keeps changing; is another daemon starting?",
				 state_dir, LOCK_FILE);
		return -1;
	}
	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len || fsync(fd) < 0 ||
	    fsync(dirfd) < 0) {
		snprintf(err, errsz, "cannot write %s/%s: %s", state_dir, LOCK_FILE, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void lockfile_release(int dirfd, int lock_fd)
{
	if (lock_fd < 0)
		return;
	unlinkat(dirfd, LOCK_FILE, 0);
	fsync(dirfd);
	close(lock_fd);
}
