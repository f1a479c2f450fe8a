/* The only place privd creates the unprivileged process: drop everything, then exec. */
#include "privd/frontd_spawn.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#define CHAN_FD 3
#define LISTEN_FD 4

int frontd_locate(const struct privd *pd, char *out, size_t outsz)
{
	char self[4096];
	ssize_t n;

	if (pd->cfg.frontd_path[0]) {
		snprintf(out, outsz, "%s", pd->cfg.frontd_path);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if (snprintf(out, outsz, "%s/ws-ckpt-frontd", dirname(self)) < (int)outsz &&
		    access(out, X_OK) == 0)
			return 0;
	}
	snprintf(out, outsz, "%s/ws-ckpt/ws-ckpt-frontd", WSCKPT_LIBEXECDIR);
	return access(out, X_OK) == 0 ? 0 : -errno;
}

static void child_fail(const char *what)
{
	dprintf(STDERR_FILENO, "ws-ckptd: frontd setup failed: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void child_setup_fds(int chan, int listen_fd)
{
	/* Move both out of the way first so the dup2s cannot clobber each other. */
	int c = fcntl(chan, F_DUPFD, 10), l = fcntl(listen_fd, F_DUPFD, 10);

	if (c < 0 || l < 0 || dup2(c, CHAN_FD) < 0 || dup2(l, LISTEN_FD) < 0)
		child_fail("dup2");
	if (syscall(SYS_close_range, LISTEN_FD + 1, ~0U, 0) < 0)
		child_fail("close_range");
}

static void child_drop(const struct privd *pd)
{
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_change_id((int)pd->frontd_uid, (int)pd->frontd_gid,
			    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0)
		child_fail("capng_change_id");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail("PR_SET_NO_NEW_PRIVS");
	/* frontd also exits on channel EOF; this covers a privd killed before the exec. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail("PR_SET_PDEATHSIG");
	if (getuid() != pd->frontd_uid || geteuid() != pd->frontd_uid || setuid(0) == 0)
		child_fail("privilege drop verification");
}

int frontd_spawn(const struct privd *pd, const char *path, pid_t *pid, char *err, size_t errsz)
{
	int sv[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errsz, "socketpair: %s", strerror(errno));
		return -1;
	}
	p = fork();
	if (p < 0) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (p == 0) {
		char maxc[16], maxu[16];
		char *argv[12];
		char *envp[] = { "PATH=/usr/bin:/bin", NULL };
		int a = 0;

		child_setup_fds(sv[1], pd->listen_fd);
		child_drop(pd);
		snprintf(maxc, sizeof(maxc), "%u", pd->cfg.max_connections);
		snprintf(maxu, sizeof(maxu), "%u", pd->cfg.max_connections_per_uid);
		argv[a++] = (char *)path;
		argv[a++] = "--channel-fd=3";
		argv[a++] = "--listen-fd=4";
		argv[a++] = "--max-connections";
		argv[a++] = maxc;
		argv[a++] = "--max-per-uid";
		argv[a++] = maxu;
		if (pd->foreground)
			argv[a++] = "--foreground";
		if (pd->verbosity > 0)
			argv[a++] = "--verbose";
		argv[a] = NULL;
		execve(path, argv, envp);
		child_fail("execve");
	}
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errsz, "fcntl: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	*pid = p;
	log_info("Started frontd %s (pid %d) as uid %u", path, (int)p, (unsigned)pd->frontd_uid);
	return sv[0];
}
