/* The client socket: created by privd so frontd needs no filesystem rights. */
#ifndef WSCKPT_LISTENER_H
#define WSCKPT_LISTENER_H

#include <stddef.h>
#include <sys/types.h>

/* Bind+listen at path, mode 0660 root:gid. fd or -1 with err. */
int listener_create(const char *path, gid_t gid, char *err, size_t errsz);
void listener_remove(const char *path);

#endif
