/* Client identities, read by privd from the kernel on the socket frontd passes us. */
#ifndef WSCKPT_PEER_H
#define WSCKPT_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "privd/privd.h"

#define PEER_MAX_GROUPS 256

struct peer {
	uint32_t session;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[PEER_MAX_GROUPS];
	int ngroups;
};

/*
 * Learn the identity behind client_fd: it must be a stream socket accepted on our own
 * listening socket (so a forged socketpair or a connection frontd made itself is refused).
 * Returns 0, or -1 with a reason in err.
 */
int peer_register(struct privd *pd, uint32_t session, int client_fd, char *err, size_t errsz);
void peer_forget(uint32_t session);
void peer_forget_all(void);
const struct peer *peer_get(uint32_t session);

bool peer_is_admin(const struct privd *pd, const struct peer *p);
bool peer_in_group(const struct peer *p, gid_t gid);
/* May p act on a workspace owned by owner? */
bool peer_may_access(const struct privd *pd, const struct peer *p, uid_t owner);

#endif
