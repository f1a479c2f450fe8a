/* Durable atomic replacement of small files (state.json, index.json, config). */
#ifndef WSCKPT_ATOMIC_FILE_H
#define WSCKPT_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace dirfd/name with data: unique tmp in the same directory, write, fsync,
 * rename over name, fsync the directory. On failure the old file is untouched and
 * the tmp is removed. Returns 0 or -errno.
 */
int atomic_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Read a whole regular file (not following a final symlink) of at most max bytes.
 * Returns 0 and a NUL-terminated malloc'd buffer, or -errno (-EFBIG if too large). */
int read_file_at(int dirfd, const char *name, size_t max, char **out, size_t *out_len);

/* Same, with extra open flags (0: follow a final symlink, as for an admin's config file). */
int read_file_flags(int dirfd, const char *name, int oflags, size_t max, char **out, size_t *out_len);

/* fsync a directory by fd. Returns 0 or -errno. */
int fsync_dir(int dirfd);

#endif
