/* The client socket: created by privd so frontd needs no filesystem rights. */
#ifndef WSCKPT_LISTENER_H
#define WSCKPT_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

/* Bind+listen at path, mode 0660 root:gid. fd or -1 with err. */
int listener_create(const char *path, gid_t gid, char *err, size_t errsz);
void listener_remove(const char *path);
/*
 * Socket activation: the listening socket systemd passed (LISTEN_PID/LISTEN_FDS, fd 3),
 * checked to be a listening AF_UNIX stream socket. fd, -1 when not activated, -2 on a bad
 * descriptor (err filled). Clears the variables so children do not see them.
 */
int listener_from_systemd(char *err, size_t errsz);

#endif
