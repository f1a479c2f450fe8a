/*
 * Start ws-ckpt-frontd. privd never execs once it is sandboxed: a launcher process,
 * forked before the seccomp filter, switches to frontd_user and execs frontd on request.
 */
#ifndef WSCKPT_FRONTD_SPAWN_H
#define WSCKPT_FRONTD_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "privd/privd.h"

/* Resolve the frontd binary: config frontd_path, beside ws-ckptd, then LIBEXECDIR. */
int frontd_locate(const struct privd *pd, char *out, size_t outsz);
/*
 * Fork the launcher (before the seccomp filter): it keeps path, pd->listen_fd and
 * root_fd (frontd's empty root directory) for every later start. 0 or -1 with err.
 */
int frontd_launcher_start(const struct privd *pd, const char *path, int root_fd, char *err,
			  size_t errsz);
/* Have the launcher start frontd; returns our end of the channel (nonblocking) and its pid. */
int frontd_spawn(const struct privd *pd, pid_t *pid, char *err, size_t errsz);
/* Close the launcher's channel (it exits) and reap it. */
void frontd_launcher_stop(void);

#endif
