/* The btrfs primitives privd uses, all relative to directory fds it opened itself. */
#ifndef WSCKPT_BTRFS_OPS_H
#define WSCKPT_BTRFS_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include <btrfsutil.h>

/* Each returns 0, or -errno with a readable reason in err. */
int bt_create_subvol(int dirfd, const char *name, char *err, size_t errsz);
int bt_snapshot(int src_dirfd, const char *src_name, int dst_dirfd, const char *dst_name,
		bool readonly, char *err, size_t errsz);
int bt_delete_subvol(int dirfd, const char *name, char *err, size_t errsz);
/* Only a subvolume without nested ones: -ENOTEMPTY (and nothing deleted) otherwise. */
int bt_delete_subvol_flat(int dirfd, const char *name, char *err, size_t errsz);
int bt_set_readonly(int dirfd, const char *name, bool ro, char *err, size_t errsz);
/* 1 if dirfd/name is a subvolume, 0 if absent or not one, -errno on other errors. */
int bt_is_subvol(int dirfd, const char *name);
/* The subvolume id of dirfd/name in *id: 1, or 0 (*id 0) if absent or not a subvolume,
 * or -errno when it cannot be read. */
int bt_subvol_id(int dirfd, const char *name, unsigned long long *id);
/* Make every change so far on dirfd's filesystem durable: one btrfs transaction commit.
 * all=false: fsync of dirfd, enough when its entries changed in the running transaction;
 * all=true: syncfs (also writes back dirty file data). 0 or -errno. */
int bt_commit(int dirfd, bool all);
/* libbtrfsutil's subvolume info of dirfd/name (a subvolume root): 0 or -errno. */
int bt_subvol_info(int dirfd, const char *name, struct btrfs_util_subvolume_info *info);

#endif
