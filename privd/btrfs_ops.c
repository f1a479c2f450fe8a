/* libbtrfsutil wrappers: ioctls only, never an exec of btrfs-progs. */
#include "privd/btrfs_ops.h"

#include <btrfsutil.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privd/fsutil.h"

static int fail(enum btrfs_util_error be, const char *what, const char *name, char *err, size_t errsz)
{
	int e = errno ? errno : EIO;

	snprintf(err, errsz, "%s %s: %s (%s)", what, name, btrfs_util_strerror(be), strerror(e));
	return -e;
}

int bt_create_subvol(int dirfd, const char *name, char *err, size_t errsz)
{
	enum btrfs_util_error be;

	errno = 0;
	be = btrfs_util_create_subvolume_fd(dirfd, name, 0, NULL, NULL);
	return be == BTRFS_UTIL_OK ? 0 : fail(be, "create subvolume", name, err, errsz);
}

int bt_snapshot(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
		bool readonly, char *err, size_t errsz)
{
	enum btrfs_util_error be;
	int src = open_beneath(src_dirfd, src_name, O_RDONLY | O_DIRECTORY);

	if (src < 0) {
		snprintf(err, errsz, "open %s: %s", src_name, strerror(-src));
		return src;
	}
	errno = 0;
	be = btrfs_util_create_snapshot_fd2(src, dst_dirfd, dst_name,
					    readonly ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0, NULL,
					    NULL);
	close(src);
	return be == BTRFS_UTIL_OK ? 0 : fail(be, "snapshot to", dst_name, err, errsz);
}

int bt_delete_subvol_flat(int dirfd, const char *name, char *err, size_t errsz)
{
	enum btrfs_util_error be;

	errno = 0;
	be = btrfs_util_delete_subvolume_fd(dirfd, name, 0);
	if (be == BTRFS_UTIL_OK)
		return 0;
	if (errno == ENOTEMPTY) {
		snprintf(err, errsz, "delete subvolume %s: it holds nested subvolumes", name);
		return -ENOTEMPTY;
	}
	return fail(be, "delete subvolume", name, err, errsz);
}

int bt_delete_subvol(int dirfd, const char *name, char *err, size_t errsz)
{
	enum btrfs_util_error be;
	int rc;

	/* A user may have created nested subvolumes inside a workspace: btrfs refuses those
	 * with ENOTEMPTY, and only then is the (tree-searching) recursive delete needed. */
	rc = bt_delete_subvol_flat(dirfd, name, err, errsz);
	if (rc != -ENOTEMPTY)
		return rc;
	errno = 0;
	be = btrfs_util_delete_subvolume_fd(dirfd, name, BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
	return be == BTRFS_UTIL_OK ? 0 : fail(be, "delete subvolume", name, err, errsz);
}

int bt_set_readonly(int dirfd, const char *name, bool ro, char *err, size_t errsz)
{
	enum btrfs_util_error be;
	int fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		snprintf(err, errsz, "open %s: %s", name, strerror(-fd));
		return fd;
	}
	errno = 0;
	be = btrfs_util_set_subvolume_read_only_fd(fd, ro);
	close(fd);
	return be == BTRFS_UTIL_OK ? 0 : fail(be, "set read-only on", name, err, errsz);
}

int bt_is_subvol(int dirfd, const char *name)
{
	enum btrfs_util_error be;
	int fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
	be = btrfs_util_is_subvolume_fd(fd);
	close(fd);
	if (be == BTRFS_UTIL_OK)
		return 1;
	return be == BTRFS_UTIL_ERROR_NOT_SUBVOLUME ? 0 : -EIO;
}

int bt_subvol_id(int dirfd, const char *name, unsigned long long *id)
{
	enum btrfs_util_error be;
	uint64_t v = 0;
	int fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);

	*id = 0;
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
	errno = 0;
	/* Of a directory that is not a subvolume root this would be its subvolume's id. */
	be = btrfs_util_is_subvolume_fd(fd);
	if (be == BTRFS_UTIL_OK)
		be = btrfs_util_subvolume_id_fd(fd, &v);
	close(fd);
	if (be == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
		return 0;
	if (be != BTRFS_UTIL_OK)
		return errno ? -errno : -EIO;
	*id = v;
	return 1;
}

int bt_commit(int dirfd, bool all)
{
	/* fsync of a directory whose entries name a renamed or deleted subvolume cannot use
	 * the log tree: btrfs commits the transaction. syncfs commits whatever is pending,
	 * whether or not that directory changed in it. */
	if ((all ? syncfs(dirfd) : fsync(dirfd)) < 0)
		return -errno;
	return 0;
}

int bt_subvol_info(int dirfd, const char *name, struct btrfs_util_subvolume_info *info)
{
	enum btrfs_util_error be;
	int fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return fd;
	errno = 0;
	be = btrfs_util_is_subvolume_fd(fd);
	if (be == BTRFS_UTIL_OK)
		be = btrfs_util_subvolume_info_fd(fd, 0, info);
	close(fd);
	if (be == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
		return -ENOTDIR;
	return be == BTRFS_UTIL_OK ? 0 : (errno ? -errno : -EIO);
}
