/* Which paths may become workspaces: checked by privd before anything is opened. */
#ifndef WSCKPT_INIT_POLICY_H
#define WSCKPT_INIT_POLICY_H

#include <stddef.h>

#include "privd/privd.h"

/* 0 if path (absolute, normalised) may be initialised, else -1 with the reason. */
int init_path_allowed(const struct privd *pd, const char *path, char *why, size_t whysz);

#endif
