/* Filesystem helpers for privd: directory creation and fd-relative, symlink-free opens. */
#ifndef WSCKPT_FSUTIL_H
#define WSCKPT_FSUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p for root-controlled configuration paths. 0 or -1 with errno. */
int mkdir_p(const char *path, mode_t mode);
/* fsync the directory containing path. 0 or -errno. */
int fsync_parent(const char *path);
/*
 * Open path (absolute) refusing any symlink on the way and any magic link:
 * openat2(RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS). Returns fd or -errno.
 */
int open_nofollow_path(const char *path, int flags);
/* Open name below dirfd without leaving it or following symlinks. fd or -errno. */
int open_beneath(int dirfd, const char *name, int flags);
/* 1 if the directory fd has no entries besides . and .., 0 if it has, -errno on error. */
int dir_is_empty(int dirfd);
/* mkdirat + open with the given owner and mode; existing directory is reused. fd or -errno. */
int ensure_dir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid);
/* Size and use of the filesystem of fd in bytes, "used" as df counts it (what an
 * unprivileged writer cannot have). 0, or -errno and both 0. */
int fs_usage(int fd, uint64_t *total, uint64_t *used);

#endif
