/* fd-relative filesystem primitives; privd never resolves a user-controlled symlink. */
#include "privd/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Created directories get exactly their mode, whatever the daemon's umask (077). */
static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0)
		return errno == EEXIST ? 0 : -1;
	return chmod(path, mode);
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir_mode(buf, 0755) < 0)
			return -1;
		*p = '/';
	}
	return mkdir_mode(buf, mode);
}

int fsync_parent(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int openat2_nofollow(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW);
	how.resolve = resolve;
	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Fallback for kernels (and valgrind) without openat2: the same guarantees built from
 * one O_NOFOLLOW openat per component, and a device comparison for RESOLVE_NO_XDEV.
 */
static int walk_nofollow(int dirfd, const char *path, int flags, bool no_xdev)
{
	char comp[256];
	const char *p = path;
	int cur = dirfd, fd = -ENOENT;
	struct statx a, b;

	if (*p == '/') {
		cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cur < 0)
			return -errno;
	}
	for (;;) {
		const char *end;
		size_t len;

		while (*p == '/')
			p++;
		end = strchr(p, '/');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || len >= sizeof(comp) || (len == 2 && p[0] == '.' && p[1] == '.')) {
			fd = len == 0 ? openat(cur, ".", flags | O_CLOEXEC) : -1;
			fd = fd < 0 ? (len == 0 ? -errno : -EXDEV) : fd;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		while (end && *end == '/')
			end++;
		fd = openat(cur, comp, (end && *end ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
			break;
		}
		/* Mount ids, not st_dev: every btrfs subvolume has its own st_dev. */
		if (no_xdev && (statx(cur, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) < 0 ||
				statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) < 0 ||
				a.stx_mnt_id != b.stx_mnt_id)) {
			close(fd);
			fd = -EXDEV;
			break;
		}
		if (cur != dirfd)
			close(cur);
		cur = fd;
		if (!end || !*end)
			return fd;
		p = end;
	}
	if (cur != dirfd && cur != fd)
		close(cur);
	return fd;
}

int open_nofollow_path(const char *path, int flags)
{
	int fd = openat2_nofollow(AT_FDCWD, path, flags, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);

	return fd == -ENOSYS ? walk_nofollow(AT_FDCWD, path, flags, false) : fd;
}

int open_beneath(int dirfd, const char *name, int flags)
{
	int fd = openat2_nofollow(dirfd, name, flags,
				  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
					  RESOLVE_NO_XDEV);

	if (fd != -ENOSYS)
		return fd;
	if (name[0] == '/')
		return -EXDEV;
	return walk_nofollow(dirfd, name, flags, true);
}

int dir_is_empty(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

int ensure_dir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	int fd;

	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int fs_usage(int fd, uint64_t *total, uint64_t *used)
{
	struct statvfs sv;

	*total = *used = 0;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*used = (uint64_t)(sv.f_blocks - sv.f_bavail) * sv.f_frsize;
	return 0;
}
