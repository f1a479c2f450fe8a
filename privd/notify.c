/*
 * The notify protocol is one datagram of "KEY=value" lines to the AF_UNIX socket named in
 * $NOTIFY_SOCKET ('@' = abstract namespace). The socket is connected at startup so that
 * later notifications need only send(), which the sandbox allows.
 */
#include "privd/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

static int notify_fd = -1;

void notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t plen;

	if (!path || !path[0])
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path)) {
		log_warn("ignoring NOTIFY_SOCKET=%s: not an absolute or abstract socket address", path);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/' ? 1 : 0));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0 || connect(notify_fd, (struct sockaddr *)&sa, len) < 0) {
		log_warn("cannot connect to NOTIFY_SOCKET %s: %s", path, strerror(errno));
		if (notify_fd >= 0)
			close(notify_fd);
		notify_fd = -1;
	}
	/* Our children (frontd, workers) must not talk to the service manager. */
	unsetenv("NOTIFY_SOCKET");
}

void notify_send(const char *state)
{
	if (notify_fd < 0)
		return;
	if (send(notify_fd, state, strlen(state), MSG_NOSIGNAL) < 0)
		log_warn("sd_notify %s failed: %s", state, strerror(errno));
}
