/* Listening socket: bound under a private umask, then chowned before anyone can connect. */
#include "privd/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/fsutil.h"

static int remove_stale_socket(const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "%s exists and is not a socket; refusing to replace it", path);
		return -1;
	}
	/* We hold daemon.lock, so a socket left here belongs to a dead instance. */
	if (unlink(path) < 0) {
		snprintf(err, errsz, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int listener_create(const char *path, gid_t gid, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	mode_t old;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errsz, "socket_path %s is too long (max %zu bytes)", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0755) < 0) {
			snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (remove_stale_socket(path, err, errsz) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177); /* the socket is born 0600 root, widened only after chown */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errsz, "cannot bind %s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chown(path, 0, gid) < 0 || chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		snprintf(err, errsz, "cannot set up socket %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

void listener_remove(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove socket %s: %s", path, strerror(errno));
}

int listener_from_systemd(char *err, size_t errsz)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int domain = 0, type = 0, acc = 0;
	socklen_t len = sizeof(int);
	const int fd = 3; /* SD_LISTEN_FDS_START */

	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strcmp(fds, "1") != 0) {
		snprintf(err, errsz, "socket activation passed LISTEN_FDS=%s; exactly one socket is expected", fds);
		return -2;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 || !acc) {
		snprintf(err, errsz, "socket activation: fd 3 is not a listening unix stream socket");
		return -2;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errsz, "socket activation: cannot set flags on fd 3: %s", strerror(errno));
		return -2;
	}
	log_info("Using the listening socket passed by systemd (socket activation)");
	return fd;
}
