/* The user's workspace path: our symlink to <data_root>/<ws_id>, or something else now. */
#ifndef WSCKPT_WSLINK_H
#define WSCKPT_WSLINK_H

#include "privd/privd.h"

enum ws_link_state {
	WSL_OK,       /* our symlink */
	WSL_MISSING,  /* nothing there */
	WSL_REPLACED, /* a directory, file or another symlink */
	WSL_UNKNOWN,  /* the parent cannot be reached without following a symlink */
};

/* Look at the path without following anything (readlinkat on a NO_SYMLINKS parent fd). */
enum ws_link_state ws_link_check(const struct privd *pd, const struct workspace *w);
/* Recreate a missing symlink, owned by the workspace owner. 0 or -errno. */
int ws_link_restore(const struct privd *pd, const struct workspace *w);

#endif
