/*
 * The only place privd creates the unprivileged process.
 *
 * privd runs under a seccomp filter that has no execve, yet it must restart frontd
 * when it dies. So before that filter is installed privd forks a small launcher:
 *
 *   privd ──ctl (SOCK_SEQPACKET)──> launcher   uid frontd_user, no_new_privs, only
 *     │   "here is a channel end"      │        CAP_SYS_CHROOT + CAP_SETPCAP (permitted,
 *     │   <── "frontd is pid N"        │        inheritable, ambient, bounding)
 *     │                                └─ fork ─ fork+exec ws-ckpt-frontd, then exit
 *     └── frontd (re-parented to privd, a child subreaper, which reaps and signals it)
 *
 * The launcher holds the listening socket, frontd's empty root directory and its end
 * of ctl; it reads nothing but privd's requests. frontd inherits the two ambient
 * capabilities across the exec only to chroot into the empty directory, then drops
 * them and its bounding set (frontd/sandbox.c). The launcher has no seccomp filter of
 * its own: frontd inherits any filter across exec, so it would have to admit all the
 * dynamic loader does; frontd installs its own tight one instead.
 */
#include "privd/frontd_spawn.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

#define CHAN_FD 3
#define LISTEN_FD 4
#define ROOT_FD 5

/* launcher -> privd, one per request: frontd's pid, or -errno. */
struct launch_reply {
	int32_t pid;
};

/* What the launcher keeps from privd's configuration to build frontd's command line. */
struct launch_cfg {
	char path[4096];
	int ctl, listen_fd, root_fd;
	uid_t uid;
	gid_t gid;
	pid_t parent;
	unsigned max_conn, max_per_uid;
	bool foreground;
	int verbosity;
};

static struct {
	pid_t pid;
	int ctl;
} launcher = { -1, -1 };

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

/* ---- in the launcher and its children ---------------------------------------------- */

static void child_fail(const char *what)
{
	dprintf(STDERR_FILENO, "ws-ckptd: frontd launcher: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every descriptor above 2 except keep[] (at most 8), with close_range over the gaps. */
static int close_all_but(const int *keep, size_t n)
{
	int sorted[8];
	unsigned from = 3;

	if (n > 8)
		return -1;
	memcpy(sorted, keep, n * sizeof(int));
	qsort(sorted, n, sizeof(int), cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (sorted[i] < 3)
			continue;
		if ((unsigned)sorted[i] > from && syscall(SYS_close_range, from, sorted[i] - 1, 0) < 0)
			return -1;
		from = (unsigned)sorted[i] + 1;
	}
	return syscall(SYS_close_range, from, ~0U, 0) < 0 ? -1 : 0;
}

/* In frontd's process, just before the exec: its three descriptors at 3, 4, 5, nothing else. */
static void child_setup_fds(const struct launch_cfg *lc, int chan)
{
	/* Move all out of the way first so the dup2s cannot clobber each other. */
	int c = fcntl(chan, F_DUPFD, 10), l = fcntl(lc->listen_fd, F_DUPFD, 10);
	int r = fcntl(lc->root_fd, F_DUPFD, 10);

	if (c < 0 || l < 0 || r < 0 || dup2(c, CHAN_FD) < 0 || dup2(l, LISTEN_FD) < 0 ||
	    dup2(r, ROOT_FD) < 0)
		child_fail("dup2");
	if (syscall(SYS_close_range, ROOT_FD + 1, ~0U, 0) < 0)
		child_fail("close_range");
}

static void exec_frontd(const struct launch_cfg *lc, int chan)
{
	char maxc[16], maxu[16];
	char *argv[12];
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	int a = 0;

	signal(SIGPIPE, SIG_DFL);
	child_setup_fds(lc, chan);
	snprintf(maxc, sizeof(maxc), "%u", lc->max_conn);
	snprintf(maxu, sizeof(maxu), "%u", lc->max_per_uid);
	argv[a++] = (char *)lc->path;
	argv[a++] = "--channel-fd=3";
	argv[a++] = "--listen-fd=4";
	argv[a++] = "--root-fd=5";
	argv[a++] = "--max-connections";
	argv[a++] = maxc;
	argv[a++] = "--max-per-uid";
	argv[a++] = maxu;
	if (lc->foreground)
		argv[a++] = "--foreground";
	if (lc->verbosity > 0)
		argv[a++] = "--verbose";
	argv[a] = NULL;
	execve(lc->path, argv, envp);
	child_fail("execve");
}

/*
 * Double fork: the middle process exits at once, so frontd is orphaned and the
 * subreaper privd becomes its parent (it reaps it and gets its exit status). frontd
 * gets no parent-death signal: its parent at fork time is that middle process. If
 * privd dies, frontd finds its channel closed (EOF) as soon as it runs, and exits.
 */
static int32_t start_frontd(const struct launch_cfg *lc, int chan)
{
	int32_t v = -EIO;
	int p[2], status;
	pid_t mid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	mid = fork();
	if (mid < 0) {
		v = -errno;
		close(p[0]);
		close(p[1]);
		return v;
	}
	if (mid == 0) {
		pid_t c;
		close(p[0]);
		c = fork();
		if (c == 0)
			exec_frontd(lc, chan);
		v = c < 0 ? -errno : (int32_t)c;
		_exit(write(p[1], &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = -EIO;
	close(p[0]);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	return v;
}

/* One request: a single byte carrying one descriptor. 1: got it, 0: privd is gone, -1: error. */
static int recv_chan(int ctl, int *fd)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	do {
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	cm = CMSG_FIRSTHDR(&mh);
	if (n != 1 || (mh.msg_flags & MSG_CTRUNC) || !cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return 1;
}

static void launcher_loop(const struct launch_cfg *lc)
{
	for (;;) {
		struct launch_reply r;
		int chan = -1, got = recv_chan(lc->ctl, &chan);

		if (got == 0)
			_exit(0); /* privd closed its end: it is stopping or dead */
		if (got < 0)
			child_fail("malformed request from privd");
		r.pid = start_frontd(lc, chan);
		close(chan);
		if (send(lc->ctl, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
			_exit(1);
	}
}

/*
 * frontd_user, its primary group only, no_new_privs, and only the two capabilities
 * frontd needs for its chroot, raised into the ambient set so they survive the exec.
 */
static void launcher_drop(const struct launch_cfg *lc)
{
	static const int keep[] = { CAP_SYS_CHROOT, CAP_SETPCAP };

	/*
	 * Not capng_change_id(): it always empties the bounding set and drops CAP_SETPCAP.
	 * Bounding set first, while we are root; KEEPCAPS carries the permitted set over
	 * the uid change, and capset then keeps only the two.
	 */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_updatev(CAPNG_ADD,
			  CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE | CAPNG_BOUNDING_SET,
			  CAP_SYS_CHROOT, CAP_SETPCAP, -1) < 0)
		child_fail("capng_updatev");
	if (capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		child_fail("bounding set");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(lc->gid, lc->gid, lc->gid) < 0 || setresuid(lc->uid, lc->uid, lc->uid) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		child_fail("switch to frontd_user");
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		child_fail("capset");
	/* After the uid change: setresuid() away from 0 clears the ambient set. */
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, keep[i], 0, 0) < 0)
			child_fail("PR_CAP_AMBIENT_RAISE");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail("PR_SET_NO_NEW_PRIVS");
	if (getuid() != lc->uid || geteuid() != lc->uid || getgid() != lc->gid || setuid(0) == 0)
		child_fail("privilege drop verification");
}

static void launcher_main(const struct launch_cfg *lc)
{
	int keep[] = { lc->ctl, lc->listen_fd, lc->root_fd };

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	if (close_all_but(keep, sizeof(keep) / sizeof(keep[0])) < 0)
		child_fail("close_range");
	launcher_drop(lc);
	/* The credential change cleared any parent-death signal: set it now, then re-check. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail("PR_SET_PDEATHSIG");
	if (getppid() != lc->parent)
		_exit(0); /* privd died before we could watch for it */
	if (prctl(PR_SET_NAME, "ws-ckpt-launch", 0, 0, 0) < 0)
		child_fail("PR_SET_NAME");
	launcher_loop(lc);
}

/* ---- in privd ------------------------------------------------------------------------ */

int frontd_launcher_start(const struct privd *pd, const char *path, int root_fd, char *err,
			  size_t errsz)
{
	static struct launch_cfg lc;
	struct timeval tv = { 10, 0 };
	int sv[2];
	pid_t p;

	if (snprintf(lc.path, sizeof(lc.path), "%s", path) >= (int)sizeof(lc.path)) {
		snprintf(err, errsz, "frontd path too long");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errsz, "socketpair: %s", strerror(errno));
		return -1;
	}
	/* A launcher that hangs must not hang privd's event loop for ever. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(err, errsz, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	lc.ctl = sv[1];
	lc.listen_fd = pd->listen_fd;
	lc.root_fd = root_fd;
	lc.uid = pd->frontd_uid;
	lc.gid = pd->frontd_gid;
	lc.max_conn = pd->cfg.max_connections;
	lc.max_per_uid = pd->cfg.max_connections_per_uid;
	lc.foreground = pd->foreground;
	lc.verbosity = pd->verbosity;
	lc.parent = getpid();
	p = fork();
	if (p < 0) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		goto fail;
	}
	if (p == 0) {
		close(sv[0]);
		launcher_main(&lc);
		_exit(0);
	}
	close(sv[1]);
	launcher.pid = p;
	launcher.ctl = sv[0];
	log_debug("frontd launcher started (pid %d)", (int)p);
	return 0;
fail:
	close(sv[0]);
	close(sv[1]);
	return -1;
}

static int send_chan(int ctl, int fd)
{
	char byte = 'F', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do {
		n = sendmsg(ctl, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static pid_t ask_launcher(int chan, char *err, size_t errsz)
{
	struct launch_reply r;
	ssize_t n;

	if (launcher.ctl < 0) {
		snprintf(err, errsz, "the frontd launcher is not running");
		return -1;
	}
	if (send_chan(launcher.ctl, chan) < 0) {
		snprintf(err, errsz, "cannot reach the frontd launcher: %s", strerror(errno));
		return -1;
	}
	do {
		n = recv(launcher.ctl, &r, sizeof(r), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		snprintf(err, errsz, "no answer from the frontd launcher: %s",
			 n < 0 ? strerror(errno) : "it exited");
		return -1;
	}
	if (r.pid <= 0) {
		snprintf(err, errsz, "the launcher could not fork frontd: %s", strerror(-r.pid));
		return -1;
	}
	return (pid_t)r.pid;
}

int frontd_spawn(const struct privd *pd, pid_t *pid, char *err, size_t errsz)
{
	int sv[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errsz, "socketpair: %s", strerror(errno));
		return -1;
	}
	p = ask_launcher(sv[1], err, errsz);
	close(sv[1]);
	if (p < 0) {
		close(sv[0]);
		return -1;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errsz, "fcntl: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	*pid = p;
	log_info("Started frontd (pid %d) as uid %u, chrooted to its empty directory", (int)p,
		 (unsigned)pd->frontd_uid);
	return sv[0];
}

void frontd_launcher_stop(void)
{
	int status;

	if (launcher.ctl >= 0) {
		close(launcher.ctl); /* EOF: the launcher exits */
		launcher.ctl = -1;
	}
	if (launcher.pid > 0) {
		while (waitpid(launcher.pid, &status, 0) < 0 && errno == EINTR)
			;
		launcher.pid = -1;
	}
}
