/* Session table: session id (chosen by frontd) -> identity (told by the kernel). */
#include "privd/peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MAX_PEERS 4096

static struct peer *peers[MAX_PEERS];
static size_t npeers;

static int check_socket(const struct privd *pd, int fd, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int type = 0, domain = 0;
	socklen_t ilen = sizeof(int);

	int listening = 0;
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &ilen) < 0 || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM) {
		snprintf(err, errsz, "passed fd is not a unix stream socket");
		return -1;
	}
	/* A listening socket "has" the credentials of whoever called listen(): privd, root.
	 * Only a connected socket with a real peer identifies a client. */
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || listening ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
		snprintf(err, errsz, "passed socket is not a connected client socket");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) ||
	    strncmp(sa.sun_path, pd->cfg.socket_path, sizeof(sa.sun_path)) != 0) {
		snprintf(err, errsz, "passed socket was not accepted on %s", pd->cfg.socket_path);
		return -1;
	}
	return 0;
}

static int read_groups(int fd, struct peer *p)
{
	socklen_t len = sizeof(p->groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) < 0) {
		/* More groups than we keep: authorization then uses uid and primary gid only. */
		if (errno != ERANGE)
			return -1;
		p->ngroups = 0;
		return 0;
	}
	p->ngroups = (int)(len / sizeof(gid_t));
	return 0;
}

int peer_register(struct privd *pd, uint32_t session, int fd, char *err, size_t errsz)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct peer *p;

	if (peer_get(session)) {
		snprintf(err, errsz, "session %u registered twice", session);
		return -1;
	}
	if (npeers >= MAX_PEERS) {
		snprintf(err, errsz, "too many sessions");
		return -1;
	}
	if (check_socket(pd, fd, err, errsz) < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
		snprintf(err, errsz, "SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	p->session = session;
	p->pid = uc.pid;
	p->uid = uc.uid;
	p->gid = uc.gid;
	if (read_groups(fd, p) < 0) {
		snprintf(err, errsz, "SO_PEERGROUPS: %s", strerror(errno));
		free(p);
		return -1;
	}
	peers[npeers++] = p;
	return 0;
}

const struct peer *peer_get(uint32_t session)
{
	for (size_t i = 0; i < npeers; i++) {
		if (peers[i]->session == session)
			return peers[i];
	}
	return NULL;
}

void peer_forget(uint32_t session)
{
	for (size_t i = 0; i < npeers; i++) {
		if (peers[i]->session == session) {
			free(peers[i]);
			peers[i] = peers[--npeers];
			return;
		}
	}
}

void peer_forget_all(void)
{
	for (size_t i = 0; i < npeers; i++)
		free(peers[i]);
	npeers = 0;
}

bool peer_in_group(const struct peer *p, gid_t gid)
{
	if (p->gid == gid)
		return true;
	for (int i = 0; i < p->ngroups; i++) {
		if (p->groups[i] == gid)
			return true;
	}
	return false;
}

bool peer_is_admin(const struct privd *pd, const struct peer *p)
{
	if (p->uid == 0)
		return true;
	return pd->has_admin_group && peer_in_group(p, pd->admin_gid);
}

bool peer_may_access(const struct privd *pd, const struct peer *p, uid_t owner)
{
	if (peer_is_admin(pd, p))
		return true;
	/* The frontd account owns nothing, even if someone made it own a directory. */
	return p->uid == owner && p->uid != pd->frontd_uid;
}
