/* What /proc/self/mountinfo says about one mount point. */
#ifndef WSCKPT_MOUNTINFO_H
#define WSCKPT_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mount_entry {
	dev_t dev; /* major:minor of the mounted filesystem */
	char fstype[32];
	char source[256];
	bool readonly;
};

/* 1: path is a mount point (topmost entry returned), 0: not, -1: error. */
int mountinfo_lookup(const char *path, struct mount_entry *out);



/* First writable btrfs mount backed by a real block device (not a loop), or 0 if none. */
int mountinfo_find_btrfs_base(char *mount_point, size_t sz);
#endif
