/* bench/floor.c — the raw btrfs floor the daemon is compared against (issue 7).
 *
 *   floor snap SRC DSTDIR N [START] N read-only snapshots of SRC into DSTDIR/f-<START+i>
 *                                  (btrfs_util_create_snapshot_fd2, as the daemon does);
 *                                  kept (remove them with rmsubvols)
 *   floor rollback DIR LIVE SNAP N N times: writable snapshot of SNAP to DIR/.rb-tmp,
 *                                  renameat2(RENAME_EXCHANGE) with DIR/LIVE, delete the old
 *                                  live (now .rb-tmp) — the daemon's rollback with
 *                                  discard_current, minus bookkeeping
 *   floor rollback-keep DIR LIVE SNAP KEEPDIR N   as rollback, but the old live is first
 *                                  kept as a read-only snapshot KEEPDIR/k-<i> (the daemon's
 *                                  default rollback, minus bookkeeping); kept
 *   floor mksubvols DIR PREFIX N   N empty subvolumes DIR/PREFIX<i> (untimed set-up of big
 *                                  indexes; prints the total time on stderr)
 *   floor rmsubvols DIR            delete every subvolume directly in DIR (set-up helper)
 *
 * snap and rollback print one latency in microseconds per line on stdout.
 * Build: cc -O2 -o floor floor.c -lbtrfsutil
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <btrfsutil.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/syscall.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what, enum btrfs_util_error e)
{
	fprintf(stderr, "floor: %s: %s (%s)\n", what, btrfs_util_strerror(e), strerror(errno));
	exit(1);
}

static int open_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "floor: open %s: %s\n", p, strerror(errno));
		exit(1);
	}
	return fd;
}

static int do_snap(const char *src, const char *dst, long n, long start)
{
	int sfd = open_dir(src), dfd = open_dir(dst);
	char name[64];
	enum btrfs_util_error e;

	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f-%ld", start + i);
		double t0 = now_us();
		e = btrfs_util_create_snapshot_fd2(sfd, dfd, name, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY,
						   NULL, NULL);
		double t1 = now_us();
		if (e)
			die("create_snapshot", e);
		printf("%.1f\n", t1 - t0);
	}
	return 0;
}

/* keepdir NULL: discard the replaced tree; else keep a read-only snapshot of it there. */
static int do_rollback(const char *dir, const char *live, const char *snap, const char *keepdir,
		       long n)
{
	int dfd = open_dir(dir), kfd = keepdir ? open_dir(keepdir) : -1;
	enum btrfs_util_error e;

	for (long i = 0; i < n; i++) {
		double t0 = now_us();
		int sfd = open(snap, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0) {
			perror("floor: open snapshot");
			return 1;
		}
		e = btrfs_util_create_snapshot_fd2(sfd, dfd, ".rb-tmp", 0, NULL, NULL);
		close(sfd);
		if (e)
			die("create writable snapshot", e);
		if (syscall(SYS_renameat2, dfd, ".rb-tmp", dfd, live, RENAME_EXCHANGE) < 0) {
			perror("floor: renameat2");
			return 1;
		}
		if (kfd >= 0) {
			char name[64];
			int ofd = openat(dfd, ".rb-tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (ofd < 0) {
				perror("floor: open old live");
				return 1;
			}
			snprintf(name, sizeof(name), "k-%ld", i);
			e = btrfs_util_create_snapshot_fd2(ofd, kfd, name,
							   BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
			close(ofd);
			if (e)
				die("keep old live", e);
		}
		e = btrfs_util_delete_subvolume_fd(dfd, ".rb-tmp", 0);
		if (e)
			die("delete old live", e);
		double t1 = now_us();
		printf("%.1f\n", t1 - t0);
	}
	return 0;
}

static int do_mksubvols(const char *dir, const char *prefix, long n)
{
	char path[4096];
	enum btrfs_util_error e;
	double t0 = now_us();

	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s%ld", dir, prefix, i);
		e = btrfs_util_create_subvolume(path, 0, NULL, NULL);
		if (e && errno != EEXIST)
			die("create_subvolume", e);
	}
	fprintf(stderr, "floor: %ld subvolumes in %.2f s\n", n, (now_us() - t0) / 1e6);
	return 0;
}

static int do_rmsubvols(const char *dir)
{
	int dfd = open_dir(dir);
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	long k = 0;

	if (!d)
		return 1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (btrfs_util_delete_subvolume_fd(dfd, de->d_name, 0) == 0)
			k++;
	}
	closedir(d);
	fprintf(stderr, "floor: deleted %ld subvolumes\n", k);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "snap"))
		return do_snap(argv[2], argv[3], atol(argv[4]), argc == 6 ? atol(argv[5]) : 0);
	if (argc == 6 && !strcmp(argv[1], "rollback"))
		return do_rollback(argv[2], argv[3], argv[4], NULL, atol(argv[5]));
	if (argc == 7 && !strcmp(argv[1], "rollback-keep"))
		return do_rollback(argv[2], argv[3], argv[4], argv[5], atol(argv[6]));
	if (argc == 5 && !strcmp(argv[1], "mksubvols"))
		return do_mksubvols(argv[2], argv[3], atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "rmsubvols"))
		return do_rmsubvols(argv[2]);
	fprintf(stderr, "usage: floor snap SRC DSTDIR N [START] | rollback DIR LIVE SNAP N | "
			"rollback-keep DIR LIVE SNAP KEEPDIR N | "
			"mksubvols DIR PREFIX N | rmsubvols DIR\n");
	return 2;
}
