/*
 * privd's least-privilege step, taken once after bootstrap (see sandbox.h):
 *
 *  1. prepare <state_dir>/frontd-root: empty, root-owned, 0555 (frontd's chroot);
 *  2. become a child subreaper and fork the frontd launcher (frontd_spawn.c) while an
 *     exec is still possible. From here on privd never execs: the launcher does, and
 *     frontd is re-parented to us (the subreaper) so we still reap and signal it;
 *  3. keep only keep_caps[] in the effective, permitted and bounding sets;
 *  4. no_new_privs, then a seccomp allow-list whose default action kills the process.
 *
 * The allow-list was measured: build with EXTRA_CFLAGS=-DWSCKPT_SECCOMP_LOG (default
 * action SCMP_ACT_LOG instead of KILL_PROCESS), run the integration suite and read the
 * kernel log for "type=1326" records. Never ship that build.
 */
#include "privd/sandbox.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/frontd_spawn.h"
#include "privd/fsutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#ifdef WSCKPT_SECCOMP_LOG
#define DEFAULT_ACTION SCMP_ACT_LOG /* discovery builds only */
#else
#define DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

/* Why each one is kept: SECURITY.md, "Least privilege", has the same table. */
static const int keep_caps[] = {
	CAP_SYS_ADMIN,    /* btrfs ioctls: subvolume delete, tree search, ino lookup */
	CAP_DAC_OVERRIDE, /* open and move subvolumes that users own, whatever their mode */
	CAP_FOWNER,       /* chmod and set the read-only flag on subvolumes users own */
	CAP_CHOWN,        /* give a new workspace subvolume to its owner */
	CAP_SETUID,       /* workers switch to the workspace owner ... */
	CAP_SETGID,       /* ... and to the owner's groups */
	CAP_SETPCAP,      /* workers empty their bounding set */
	CAP_KILL,         /* signal frontd and workers, which run under other uids */
};

/* ---- capabilities ---------------------------------------------------------- */

static uint64_t keep_mask(void)
{
	uint64_t m = 0;

	for (size_t i = 0; i < N(keep_caps); i++)
		m |= 1ull << keep_caps[i];
	return m;
}

/* Read the kernel's view, not libcap-ng's: the check must not trust what it verifies. */
static int caps_now(uint64_t *eff, uint64_t *prm, uint64_t *inh, uint64_t *bnd)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	/* Zeroed: valgrind's capget knows only the first element is written (v1). */
	struct __user_cap_data_struct d[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	*bnd = 0;
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0)
			break; /* EINVAL: past the last capability this kernel knows */
		if (r)
			*bnd |= 1ull << c;
	}
	return 0;
}

static int drop_caps(char *err, size_t errsz)
{
	uint64_t eff, prm, inh, bnd, want = keep_mask();

	capng_clear(CAPNG_SELECT_ALL);
	for (size_t i = 0; i < N(keep_caps); i++) {
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
				 (unsigned)keep_caps[i]) < 0) {
			snprintf(err, errsz, "capng_update: capability %d unknown", keep_caps[i]);
			return -1;
		}
	}
	if (capng_apply(CAPNG_SELECT_ALL) < 0) {
		snprintf(err, errsz, "cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	if (caps_now(&eff, &prm, &inh, &bnd) < 0) {
		snprintf(err, errsz, "capget: %s", strerror(errno));
		return -1;
	}
	if (eff != want || prm != want || inh != 0 || bnd != want) {
		snprintf(err, errsz,
			 "capability drop not effective (eff %#llx prm %#llx inh %#llx bnd %#llx, want %#llx)",
			 (unsigned long long)eff, (unsigned long long)prm, (unsigned long long)inh,
			 (unsigned long long)bnd, (unsigned long long)want);
		return -1;
	}
	return 0;
}

/* ---- frontd's empty root -------------------------------------------------------- */

/* Returns an fd of the directory (kept by the launcher) or -1 with err set. */
static int frontd_root_open(struct privd *pd, char *err, size_t errsz)
{
	int fd, empty;

	if (mkdirat(pd->state_dir_fd, FRONTD_ROOT_DIR, 0555) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s/%s: %s", pd->cfg.state_dir, FRONTD_ROOT_DIR,
			 strerror(errno));
		return -1;
	}
	/* No symlink, no mount point: exactly the directory we made. */
	fd = open_beneath(pd->state_dir_fd, FRONTD_ROOT_DIR, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s/%s: %s", pd->cfg.state_dir, FRONTD_ROOT_DIR,
			 strerror(-fd));
		return -1;
	}
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0555) < 0) {
		snprintf(err, errsz, "cannot set owner/mode of %s/%s: %s", pd->cfg.state_dir,
			 FRONTD_ROOT_DIR, strerror(errno));
		close(fd);
		return -1;
	}
	empty = dir_is_empty(fd);
	if (empty != 1) {
		snprintf(err, errsz, "%s/%s must be an empty directory (%s); remove what is in it",
			 pd->cfg.state_dir, FRONTD_ROOT_DIR, empty < 0 ? strerror(-empty) : "it is not");
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- seccomp ------------------------------------------------------------------------ */

/* Unconditionally allowed in privd (and so in the workers it forks). */
static const int privd_syscalls[] = {
	/* memory and process basics */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
	SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getgroups),
	SCMP_SYS(getrandom), SCMP_SYS(sysinfo) /* glibc qsort sizing */, SCMP_SYS(uname),
	SCMP_SYS(futex) /* glibc's once-locks (NSS in workers) */,
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	/* children: workers (fork), frontd (a subreaper orphan); signals to both */
	SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(kill), SCMP_SYS(tgkill),
	SCMP_SYS(set_robust_list),
	/* a worker's switch to the owner (capng_change_id, setgroups) and its own filter */
	SCMP_SYS(capget), SCMP_SYS(capset), SCMP_SYS(setgroups), SCMP_SYS(setresuid),
	SCMP_SYS(setresgid), SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(seccomp),
	/* descriptors and files: state files, the btrfs tree, the init copy in workers */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(close_range),
	SCMP_SYS(dup), SCMP_SYS(fcntl), SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lstat), SCMP_SYS(stat),
	SCMP_SYS(fstatfs), SCMP_SYS(statfs), SCMP_SYS(getdents64), SCMP_SYS(mkdirat),
	SCMP_SYS(mkdir), SCMP_SYS(unlinkat), SCMP_SYS(unlink), SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(rename), SCMP_SYS(linkat), SCMP_SYS(symlinkat),
	SCMP_SYS(readlinkat), SCMP_SYS(readlink), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
	SCMP_SYS(access), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chmod),
	SCMP_SYS(fchown), SCMP_SYS(fchownat), SCMP_SYS(chown), SCMP_SYS(utimensat),
	SCMP_SYS(mknodat), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(syncfs),
	SCMP_SYS(ftruncate), SCMP_SYS(flock), SCMP_SYS(umask), SCMP_SYS(flistxattr),
	SCMP_SYS(fgetxattr), SCMP_SYS(fsetxattr), SCMP_SYS(copy_file_range),
	/* a journal fdatasync overlapping a btrfs commit (privd/aio_sync.c; io_setup is done
	 * before the filter) */
	SCMP_SYS(io_submit), SCMP_SYS(io_getevents), SCMP_SYS(io_pgetevents),
	/* the privsep channel, the launcher, syslog; sockets are AF_UNIX only (below) */
	SCMP_SYS(connect), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto),
	SCMP_SYS(recvfrom), SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(shutdown),
	/* libevent */
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(pipe2),
};

/* ioctl requests privd (and its workers) make after bootstrap; nothing else. */
static const uint64_t privd_ioctls[] = {
	BTRFS_IOC_SUBVOL_CREATE_V2,   /* init: the workspace subvolume */
	BTRFS_IOC_SNAP_CREATE_V2,     /* checkpoint, rollback */
	BTRFS_IOC_SNAP_DESTROY,       /* delete (libbtrfsutil 6.2 by name) */
	BTRFS_IOC_SNAP_DESTROY_V2,    /* delete by id (newer libbtrfsutil) */
	BTRFS_IOC_SUBVOL_GETFLAGS,    /* read-only flag */
	BTRFS_IOC_SUBVOL_SETFLAGS,
	BTRFS_IOC_INO_LOOKUP,         /* subvolume id and paths (recursive delete) */
	BTRFS_IOC_TREE_SEARCH,        /* nested subvolumes (recursive delete, as root) */
	BTRFS_IOC_TREE_SEARCH_V2,
	BTRFS_IOC_GET_SUBVOL_INFO,    /* the unprivileged forms libbtrfsutil may pick */
	BTRFS_IOC_GET_SUBVOL_ROOTREF,
	BTRFS_IOC_INO_LOOKUP_USER,
	BTRFS_IOC_FS_INFO,
	BTRFS_IOC_SEND,               /* diff, in a root worker: metadata-only stream */
	BTRFS_IOC_SYNC,               /* cleanup, in a root worker: commit and wake the cleaner */
	FICLONE,                      /* init copy in workers: reflink when possible */
	TCGETS,                       /* isatty() when stdio meets a terminal */
	FIONREAD,                     /* libevent buffers */
};

/* prctl options: the workers' capability drop (libcap-ng), no_new_privs, parent-death. */
static const uint64_t privd_prctls[] = {
	PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_SET_KEEPCAPS, PR_GET_KEEPCAPS,
	PR_CAPBSET_READ,     PR_CAPBSET_DROP,     PR_CAP_AMBIENT,  PR_GET_SECUREBITS,
	PR_SET_PDEATHSIG,
};

/* fork() only: no threads, no namespaces (posix_spawn's CLONE_VM is for bootstrap). */
#define CLONE_DENIED                                                                      \
	(CLONE_VM | CLONE_THREAD | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	 CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

static int allow_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One rule per value of argument arg; mask: ioctl numbers are 32-bit in the kernel. */
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

static int add_privd_rules(scmp_filter_ctx ctx)
{
	static const uint64_t af_unix[] = { AF_UNIX };
	int rc;

	rc = allow_list(ctx, privd_syscalls, N(privd_syscalls));
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, privd_ioctls, N(privd_ioctls));
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(prctl), 0, ~0ull, privd_prctls, N(privd_prctls));
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(socket), 0, ~0ull, af_unix, 1);
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(socketpair), 0, ~0ull, af_unix, 1);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_DENIED, 0));
	/* clone3 takes its flags in memory, out of the filter's sight: glibc falls back. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return rc;
}

/* Load a filter built by add(); default action kills the whole process. */
static int load_filter(int (*add)(scmp_filter_ctx), char *err, size_t errsz)
{
	scmp_filter_ctx ctx;
	int rc;

#ifdef WSCKPT_TEST_HOOKS
	/* valgrind cannot run a process under our filter (it makes calls of its own that
	 * the list does not name): test builds can leave it out to be checked by valgrind.
	 * Release builds have no such switch. */
	if (getenv("WSCKPT_TEST_NO_SECCOMP")) {
		log_warn("sandbox: seccomp filter NOT installed (test build, WSCKPT_TEST_NO_SECCOMP); the next line does not apply");
		return 0;
	}
#endif
	ctx = seccomp_init(DEFAULT_ACTION);

	if (!ctx) {
		snprintf(err, errsz, "seccomp_init failed");
		return -1;
	}
	/* A syscall of another ABI (int 0x80, x32) is as forbidden as an unlisted one. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = add(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		snprintf(err, errsz, "cannot install the seccomp filter: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* ---- worker filter --------------------------------------------------------------- */

/*
 * What a worker needs after it became the owner: the file work of its job and
 * reporting back through its pipe. It loses fork, signals, identity changes, sockets
 * and every ioctl but FICLONE (and TCGETS for stdio).
 */
static const int worker_syscalls[] = {
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
	SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(futex), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(getrandom), SCMP_SYS(sysinfo), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(openat),
	SCMP_SYS(openat2), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
	SCMP_SYS(fstatfs), SCMP_SYS(getdents64), SCMP_SYS(mkdirat), SCMP_SYS(unlinkat),
	SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(linkat), SCMP_SYS(symlinkat),
	SCMP_SYS(readlinkat), SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(fchmod),
	SCMP_SYS(fchmodat), SCMP_SYS(fchown), SCMP_SYS(fchownat), SCMP_SYS(utimensat),
	SCMP_SYS(mknodat), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(syncfs),
	SCMP_SYS(ftruncate), SCMP_SYS(flistxattr), SCMP_SYS(fgetxattr), SCMP_SYS(fsetxattr),
	SCMP_SYS(copy_file_range),
};

static const uint64_t worker_ioctls[] = { FICLONE, TCGETS };
/* The root worker of diff: the send stream, and the parent's subvolume id for it. */
static const uint64_t root_worker_ioctls[] = { BTRFS_IOC_SEND, BTRFS_IOC_INO_LOOKUP, TCGETS };
/* The root worker of cleanup (privd/reclaim.c): BTRFS_IOC_SYNC commits the deletes and
 * wakes the cleaner; BTRFS_IOC_TREE_SEARCH looks a removed subvolume's root item up by
 * id (libbtrfsutil's subvolume_info as root) to see whether the cleaner dropped it. */
static const uint64_t reclaim_worker_ioctls[] = { BTRFS_IOC_SYNC, BTRFS_IOC_TREE_SEARCH };
/* ... and it sleeps between those looks (glibc's nanosleep is clock_nanosleep). */
static const int reclaim_worker_syscalls[] = { SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep) };

static int add_worker_rules(scmp_filter_ctx ctx)
{
	int rc = allow_list(ctx, worker_syscalls, N(worker_syscalls));

	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, worker_ioctls,
				      N(worker_ioctls));
	return rc;
}

static int add_root_worker_rules(scmp_filter_ctx ctx)
{
	int rc = allow_list(ctx, worker_syscalls, N(worker_syscalls));

	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, root_worker_ioctls,
				      N(root_worker_ioctls));
	return rc;
}

static int add_reclaim_worker_rules(scmp_filter_ctx ctx)
{
	int rc = allow_list(ctx, worker_syscalls, N(worker_syscalls));

	if (rc == 0)
		rc = allow_list(ctx, reclaim_worker_syscalls, N(reclaim_worker_syscalls));
	if (rc == 0)
		rc = allow_arg_values(ctx, SCMP_SYS(ioctl), 1, 0xffffffffu, reclaim_worker_ioctls,
				      N(reclaim_worker_ioctls));
	return rc;
}

int sandbox_worker_enter(enum sandbox_worker kind)
{
	int (*add)(scmp_filter_ctx) = kind == SANDBOX_WORKER_SEND    ? add_root_worker_rules
				      : kind == SANDBOX_WORKER_RECLAIM ? add_reclaim_worker_rules
								       : add_worker_rules;
	char err[256];

	if (load_filter(add, err, sizeof(err)) < 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* ---- entry --------------------------------------------------------------------- */

static int start_launcher(struct privd *pd, const char *frontd_path, char *err, size_t errsz)
{
	int root_fd, rc;

	/* frontd is forked by the launcher; as subreaper we inherit it when its parent exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		snprintf(err, errsz, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return -1;
	}
	root_fd = frontd_root_open(pd, err, errsz);
	if (root_fd < 0)
		return -1;
	rc = frontd_launcher_start(pd, frontd_path, root_fd, err, errsz);
	close(root_fd);
	return rc;
}

int sandbox_privd_enter(struct privd *pd, const char *frontd_path, char *err, size_t errsz)
{
	if (start_launcher(pd, frontd_path, err, errsz) < 0 || drop_caps(err, errsz) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (load_filter(add_privd_rules, err, errsz) < 0)
		return -1;
	log_info("sandbox: capabilities reduced to %#llx, no_new_privs, seccomp allow-list (%zu calls, and ioctl, prctl, socket, clone by argument)%s",
		 (unsigned long long)keep_mask(), N(privd_syscalls),
#ifdef WSCKPT_SECCOMP_LOG
		 " (LOG-ONLY DISCOVERY BUILD: violations are logged, not stopped)"
#else
		 ""
#endif
	);
	return 0;
}
