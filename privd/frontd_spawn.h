/* Start ws-ckpt-frontd: socketpair, fork, drop to frontd_user with no capabilities, exec. */
#ifndef WSCKPT_FRONTD_SPAWN_H
#define WSCKPT_FRONTD_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "privd/privd.h"

/* Resolve the frontd binary: config frontd_path, beside ws-ckptd, then LIBEXECDIR. */
int frontd_locate(const struct privd *pd, char *out, size_t outsz);
/* Fork+exec frontd; returns our end of the channel (nonblocking) and the child pid. */
int frontd_spawn(const struct privd *pd, const char *path, pid_t *pid, char *err, size_t errsz);

#endif
