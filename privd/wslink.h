/* The user's workspace path: our symlink to <data_root>/<ws_id>, or something else now. */
#ifndef WSCKPT_WSLINK_H
#define WSCKPT_WSLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

enum ws_link_state {
	WSL_OK,       /* our symlink */
	WSL_MISSING,  /* nothing there */
	WSL_REPLACED, /* a directory, file or another symlink */
	WSL_UNKNOWN,  /* the parent cannot be reached without following a symlink */
};

/* Open the parent of an absolute path without following symlinks; *base = last component. */
int ws_open_parent(const char *path, const char **base);
/* "<data_root>/<ws_id>": what a workspace symlink points to. */
void ws_link_target(const struct privd *pd, const char *ws_id, char *out, size_t outsz);
/* True when dirfd/name is a symlink whose text is exactly target (never followed). */
bool link_points_to(int dirfd, const char *name, const char *target);

/* Look at the path without following anything (readlinkat on a NO_SYMLINKS parent fd). */
enum ws_link_state ws_link_check(const struct privd *pd, const struct workspace *w);
/* Recreate a missing symlink, owned by the workspace owner. 0 or -errno. */
int ws_link_restore(const struct privd *pd, const struct workspace *w);

#endif
