/* fork, close every descriptor the job does not need, drop to the owner, run, report. */
#include "privd/worker.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/sandbox.h"

static int active_workers; /* started and not yet reported back */

struct worker_result {
	int32_t rc;
	char msg[WORKER_MSG_MAX];
};

struct worker {
	pid_t pid;
	int fd;
	struct event *ev;
	worker_done done;
	void *cbarg;
	struct privd *pd;
};

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd except those in keep (sorted copy) using close_range over the gaps. */
static int close_others(const int *keep, size_t nkeep)
{
	int sorted[16];
	unsigned int from = 3;

	if (nkeep > 16)
		return -1;
	memcpy(sorted, keep, nkeep * sizeof(int));
	qsort(sorted, nkeep, sizeof(int), cmp_int);
	for (size_t i = 0; i < nkeep; i++) {
		if ((unsigned)sorted[i] > from && syscall(SYS_close_range, from, sorted[i] - 1, 0) < 0)
			return -1;
		if ((unsigned)sorted[i] + 1 > from)
			from = (unsigned)sorted[i] + 1;
	}
	return syscall(SYS_close_range, from, ~0U, 0) < 0 ? -1 : 0;
}

static int drop_to(uid_t uid, gid_t gid)
{
	gid_t groups[256];
	int ngroups = 256;
	struct passwd *pw = getpwuid(uid);

	if (pw && getgrouplist(pw->pw_name, gid, groups, &ngroups) >= 0) {
		if (setgroups((size_t)ngroups, groups) < 0)
			return -1;
	} else if (setgroups(1, &gid) < 0) {
		return -1;
	}
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_change_id((int)uid, (int)gid, CAPNG_CLEAR_BOUNDING) != 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Belt and braces: a root worker for a non-root owner must be impossible. */
	if (uid != 0 && (geteuid() == 0 || setuid(0) == 0))
		return -1;
	return 0;
}

static void child_main(int wfd, pid_t parent, uid_t uid, gid_t gid, enum sandbox_worker kind,
		       const int *keep, size_t nkeep, worker_job job, void *arg)
{
	struct worker_result res;
	int fds[17];

	memset(&res, 0, sizeof(res));
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	memcpy(fds, keep, nkeep * sizeof(int));
	fds[nkeep] = wfd;
	/* Die with privd: a worker finishing an init behind a restarted daemon's back could
	 * swap in a symlink to a subvolume the new daemon already removed. Set after the
	 * uid change, which clears it. Last, a file-work-only seccomp filter on top of
	 * privd's (privd/sandbox.c): no fork, kill, identity change or btrfs ioctl. */
	if (close_others(fds, nkeep + 1) < 0 || (uid != WORKER_KEEP_PRIVS && drop_to(uid, gid) < 0) ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent ||
	    sandbox_worker_enter(kind) < 0) {
		res.rc = -EPERM;
		snprintf(res.msg, sizeof(res.msg), "worker setup failed: %s", strerror(errno));
	} else {
		res.rc = job(arg, res.msg, sizeof(res.msg));
	}
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(2);
	_exit(0);
}

static void on_result(evutil_socket_t fd, short what, void *arg)
{
	struct worker *wk = arg;
	struct worker_result res;
	ssize_t n;
	int status = 0;

	memset(&res, 0, sizeof(res));
	do {
		n = read(wk->fd, &res, sizeof(res));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(res)) {
		res.rc = -ECHILD;
		snprintf(res.msg, sizeof(res.msg), "worker process died before reporting");
	}
	res.msg[sizeof(res.msg) - 1] = '\0';
	while (waitpid(wk->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(res) && WIFSIGNALED(status))
		log_err("worker %d was killed by signal %d%s", (int)wk->pid, WTERMSIG(status),
			WTERMSIG(status) == SIGSYS ? " (SIGSYS: a system call its seccomp filter forbids)" : "");
	event_free(wk->ev);
	close(wk->fd);
	active_workers--;
	wk->done(wk->pd, wk->cbarg, res.rc, res.msg);
	free(wk);
}

int worker_active(void)
{
	return active_workers;
}

static int spawn(struct privd *pd, uid_t uid, gid_t gid, enum sandbox_worker kind,
		 const int *keep, size_t nkeep, worker_job job, void *jobarg, worker_done done,
		 void *cbarg)
{
	struct worker *wk;
	int p[2];
	pid_t pid, self = getpid();

	if (nkeep > 16 || pipe2(p, O_CLOEXEC) < 0)
		return -EINVAL;
	wk = calloc(1, sizeof(*wk));
	if (!wk) {
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		free(wk);
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(p[1], self, uid, gid, kind, keep, nkeep, job, jobarg);
	}
	close(p[1]);
	wk->pid = pid;
	wk->fd = p[0];
	wk->done = done;
	wk->cbarg = cbarg;
	wk->pd = pd;
	wk->ev = event_new(pd->base, p[0], EV_READ, on_result, wk);
	if (!wk->ev || event_add(wk->ev, NULL) < 0) {
		log_err("cannot watch worker %d", (int)pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (wk->ev)
			event_free(wk->ev);
		close(p[0]);
		free(wk);
		return -ENOMEM;
	}
	active_workers++;
	log_debug("worker %d started as uid %u", (int)pid, (unsigned)uid);
	return 0;
}

int worker_spawn(struct privd *pd, uid_t uid, gid_t gid, const int *keep, size_t nkeep,
		 worker_job job, void *jobarg, worker_done done, void *cbarg)
{
	enum sandbox_worker kind = uid == WORKER_KEEP_PRIVS ? SANDBOX_WORKER_SEND : SANDBOX_WORKER_FILES;

	return spawn(pd, uid, gid, kind, keep, nkeep, job, jobarg, done, cbarg);
}

int worker_spawn_root(struct privd *pd, enum sandbox_worker kind, const int *keep, size_t nkeep,
		      worker_job job, void *jobarg, worker_done done, void *cbarg)
{
	return spawn(pd, WORKER_KEEP_PRIVS, 0, kind, keep, nkeep, job, jobarg, done, cbarg);
}
