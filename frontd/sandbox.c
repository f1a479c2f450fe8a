/*
 * frontd's sandbox. The launcher execs us as frontd_user with no_new_privs and two
 * ambient capabilities, CAP_SYS_CHROOT and CAP_SETPCAP, because a chroot must come after
 * the dynamic loader has mapped our libraries. Here we use them once: chroot into the
 * empty directory privd passed as a descriptor, then drop them, the bounding set and
 * the ambient set, check that nothing is left, and install the allow-list.
 *
 * The allow-list is what an event loop over already-open sockets needs: no open of any
 * path, no exec, no new sockets, no executable memory. socket() and connect() fail with
 * EACCES instead of killing us: syslog(3) retries them after a syslogd restart (it cannot
 * reconnect to /dev/log from the chroot anyway), and frontd must not die for that.
 * Build with EXTRA_CFLAGS=-DWSCKPT_SECCOMP_LOG to log violations instead (discovery only).
 */
#include "frontd/sandbox.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#ifdef WSCKPT_SECCOMP_LOG
#define DEFAULT_ACTION SCMP_ACT_LOG
#else
#define DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

void sandbox_prepare(void)
{
	/* Reads /etc/localtime now; syslog(3)'s localtime_r would otherwise try it later. */
	tzset();
	/* libcap-ng reads /proc/sys/kernel/cap_last_cap on first use: do that first use here. */
	capng_clear(CAPNG_SELECT_BOTH);
}

static int enter_root(int root_fd)
{
	/* fchdir, not a path: the directory sits in privd's 0700 state dir we cannot search. */
	if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		log_err("sandbox: cannot chroot into the empty directory: %s", strerror(errno));
		return -1;
	}
	if (close(root_fd) < 0) {
		log_err("sandbox: close: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Every set empty, as the kernel reports it. */
static int caps_all_clear(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	/* Zeroed: valgrind's capget knows only the first element is written (v1). */
	struct __user_cap_data_struct d[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return 0;
	}
	for (int c = 0; c < 64; c++) {
		int b = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (b < 0)
			break; /* past the kernel's last capability */
		if (b || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) != 0)
			return 0;
	}
	return 1;
}

static int drop_caps(void)
{
	/* Bounding set first: emptying it needs the CAP_SETPCAP we are about to lose. */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_ALL) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		log_err("sandbox: cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	if (!caps_all_clear() || getuid() == 0 || geteuid() == 0 || setuid(0) == 0) {
		log_err("sandbox: capabilities or root identity still present after the drop");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static const int frontd_syscalls[] = {
	/* client sockets and the privsep channel (all inherited or accepted) */
	SCMP_SYS(accept4), SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
	SCMP_SYS(shutdown), SCMP_SYS(close),
	/* libevent */
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	/* memory (executable mappings are refused below) */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* signals, time, exit */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(getpid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
	SCMP_SYS(getegid), SCMP_SYS(getrandom), SCMP_SYS(exit), SCMP_SYS(exit_group),
	/* stdio on the inherited stderr (foreground logging): fstat, lseek */
	SCMP_SYS(fstat), SCMP_SYS(lseek),
};

static const uint64_t frontd_fcntls[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC };
static const uint64_t frontd_ioctls[] = { FIONREAD /* libevent */, TCGETS /* isatty */ };

static int allow_arg_values(scmp_filter_ctx ctx, int nr, unsigned arg, uint64_t mask,
			    const uint64_t *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct scmp_arg_cmp cmp = { arg, SCMP_CMP_MASKED_EQ, mask, vals[i] & mask };
		int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_rules(scmp_filter_ctx ctx)
{
	static const uint64_t sol_socket[] = { SOL_SOCKET }, empty_path[] = { AT_EMPTY_PATH };
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < N(frontd_syscalls); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, frontd_syscalls[i], 0);
	if (rc == 0) /* malloc: only non-executable memory */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0) /* glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH) */
		rc = allow_arg_values(ctx, SCMP_SYS(newfstatat), 3, ~0ull, empty_path, 1);
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(fcntl), 1, ~0ull, frontd_fcntls, N(frontd_fcntls));
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, frontd_ioctls,
				      N(frontd_ioctls));
	if (rc == 0) /* SO_PEERCRED of clients, SO_TYPE */
		rc = allow_arg_values(ctx, SCMP_SYS(getsockopt), 1, ~0ull, sol_socket, 1);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(connect), 0);
	return rc;
}

static int load_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(DEFAULT_ACTION);
	int rc;

	if (!ctx) {
		log_err("sandbox: seccomp_init failed");
		return -1;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = add_rules(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		log_err("sandbox: cannot install the seccomp filter: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

int sandbox_enter(int root_fd)
{
	if (enter_root(root_fd) < 0 || drop_caps() < 0 || load_filter() < 0)
		return -1;
	log_debug("sandbox: chrooted, no capabilities, seccomp allow-list installed%s",
#ifdef WSCKPT_SECCOMP_LOG
		  " (LOG-ONLY DISCOVERY BUILD)"
#else
		  ""
#endif
	);
	return 0;
}
