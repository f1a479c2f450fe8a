/* The send ioctl directly: no btrfs-progs, no exec, metadata only (NO_FILE_DATA). */
#include "privd/btrfs_send.h"

#include <btrfsutil.h>
#include <errno.h>
#include <linux/btrfs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int bt_send_no_data(int parent_fd, int to_fd, int out_fd, char *err, size_t errsz)
{
	struct btrfs_ioctl_send_args args;
	uint64_t parent_root = 0;
	__u64 clone_source;
	enum btrfs_util_error be = btrfs_util_subvolume_id_fd(parent_fd, &parent_root);

	if (be != BTRFS_UTIL_OK) {
		snprintf(err, errsz, "cannot read parent subvolume id: %s", btrfs_util_strerror(be));
		return -EIO;
	}
	memset(&args, 0, sizeof(args));
	args.send_fd = out_fd;
	args.parent_root = parent_root;
	/* The parent is also the only clone source, as btrfs send -p does. */
	args.clone_sources_count = 1;
	clone_source = parent_root;
	args.clone_sources = &clone_source;
	args.flags = BTRFS_SEND_FLAG_NO_FILE_DATA;
	if (ioctl(to_fd, BTRFS_IOC_SEND, &args) < 0) {
		int e = errno;
		snprintf(err, errsz, "BTRFS_IOC_SEND failed: %s", strerror(e));
		return -e;
	}
	return 0;
}
