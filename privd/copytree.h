/* Copy a directory tree between two open directories, preserving what the owner can. */
#ifndef WSCKPT_COPYTREE_H
#define WSCKPT_COPYTREE_H

#include <stddef.h>

/*
 * Copy the contents of src_dirfd into dst_dirfd (which must be empty): modes, times,
 * symlinks verbatim, hardlinks, FIFOs, xattrs (incl. POSIX ACLs); file data by reflink
 * when possible, else copy_file_range, else read/write. Never follows a symlink.
 * Device nodes and sockets cannot be recreated by a non-root owner and are reported.
 * Returns 0 or -errno with the failing path in msg.
 */
int copy_tree(int src_dirfd, int dst_dirfd, char *msg, size_t msgsz);

/* Remove name under dirfd recursively without following symlinks. 0 or -errno. */
int remove_tree(int dirfd, const char *name, char *msg, size_t msgsz);

/* Copy xattrs and mode/times of the top directory itself. */
int copy_dir_attrs(int src_dirfd, int dst_dirfd);

#endif
