/* BTRFS_IOC_SEND without file data: the change list between two read-only snapshots. */
#ifndef WSCKPT_BTRFS_SEND_H
#define WSCKPT_BTRFS_SEND_H

#include <stddef.h>

/*
 * Write the send stream that turns parent_fd's subvolume into to_fd's into out_fd.
 * Blocks until done (run it in a worker). 0 or -errno with err.
 */
int bt_send_no_data(int parent_fd, int to_fd, int out_fd, char *err, size_t errsz);

#endif
