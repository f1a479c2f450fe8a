/*
 * BtrfsLoop bootstrap: a sparse 0600 image, formatted only when we create it, attached
 * by ioctl and mounted nosuid,nodev. Anything already mounted at mount_path must be
 * provably our image (loop device backed by the image's dev/inode) or we refuse.
 */
#include "privd/backend_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/fsutil.h"
#include "privd/loopdev.h"
#include "privd/mountinfo.h"

#define MIN_IMAGE_BYTES (256ull << 20) /* mkfs.btrfs needs ~114 MiB; leave room for data */
#define MOUNT_FLAGS (MS_NOSUID | MS_NODEV | MS_NOATIME)

static const char *const mkfs_paths[] = { "/usr/sbin/mkfs.btrfs", "/sbin/mkfs.btrfs",
					  "/usr/bin/mkfs.btrfs", NULL };

static int run_mkfs(const char *img)
{
	extern char **environ;
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	const char *mkfs = NULL;
	pid_t pid;
	int status, rc;

	(void)environ;
	for (int i = 0; mkfs_paths[i]; i++) {
		if (access(mkfs_paths[i], X_OK) == 0) {
			mkfs = mkfs_paths[i];
			break;
		}
	}
	if (!mkfs)
		return -ENOENT;
	{
		char *const argv[] = { (char *)mkfs, "-q", "-f", (char *)img, NULL };
		rc = posix_spawn(&pid, mkfs, NULL, NULL, argv, envp);
	}
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static unsigned long long image_target_size(const struct config *cfg, const char *dir,
					    char *err, size_t errsz)
{
	struct statvfs sv;
	unsigned long long total, avail, target, cap;

	if (statvfs(dir, &sv) < 0) {
		snprintf(err, errsz, "cannot stat filesystem of %s: %s", dir, strerror(errno));
		return 0;
	}
	total = (unsigned long long)sv.f_blocks * sv.f_frsize;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	cap = cfg->img_size_gib << 30;
	target = (unsigned long long)((double)total * cfg->img_max_percent / 100.0);
	if (cap < target)
		target = cap;
	if (target > avail) {
		unsigned long long degraded = (unsigned long long)((double)avail * cfg->img_max_percent / 100.0);
		log_warn("Target image size %.1f GB exceeds available %.1f GB. Degrading to %.1f GB (%g%% of available).",
			 (double)target / (1 << 30), (double)avail / (1 << 30),
			 (double)degraded / (1 << 30), cfg->img_max_percent);
		target = degraded;
	}
	target &= ~((1ull << 20) - 1); /* whole MiB */
	if (target < MIN_IMAGE_BYTES) {
		snprintf(err, errsz,
			 "not enough space for the btrfs image at %s: %llu MiB possible, at least %llu MiB needed (raise img_size/img_max_percent or free space)",
			 cfg->img_path, target >> 20, MIN_IMAGE_BYTES >> 20);
		return 0;
	}
	return target;
}

/* Create, size and format the image under a temporary name; rename only when complete. */
static int create_image(struct privd *pd, char *err, size_t errsz)
{
	const struct config *cfg = &pd->cfg;
	char buf[CFG_PATH_MAX], dir[CFG_PATH_MAX], tmp[CFG_PATH_MAX + 16];
	unsigned long long size;
	int fd, rc;

	snprintf(buf, sizeof(buf), "%s", cfg->img_path);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	if (mkdir_p(dir, 0700) < 0) {
		snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	size = image_target_size(cfg, dir, err, errsz);
	if (size == 0)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s.new", cfg->img_path) >= (int)sizeof(tmp)) {
		snprintf(err, errsz, "image path too long");
		return -1;
	}
	unlink(tmp); /* a previous attempt that died before the rename */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	log_info("Creating sparse image %llu bytes (%.1f GB) at %s", size, (double)size / (1 << 30),
		 cfg->img_path);
	rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (rc == 0)
		rc = fchmod(fd, 0600) < 0 ? -errno : 0;
	close(fd);
	if (rc == 0)
		rc = run_mkfs(tmp);
	if (rc == 0) {
		int dfd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (dfd >= 0) {
			rc = fsync(dfd) < 0 ? -errno : 0;
			close(dfd);
		}
	}
	if (rc == 0 && rename(tmp, cfg->img_path) < 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		snprintf(err, errsz, "cannot create btrfs image %s: %s%s", cfg->img_path, strerror(-rc),
			 rc == -ENOENT ? " (is btrfs-progs installed? mkfs.btrfs not found)" : "");
		return -1;
	}
	return fsync_parent(cfg->img_path);
}

static int check_existing_mount(const struct config *cfg, const struct stat *img_st, char *err,
				size_t errsz)
{
	struct mount_entry me;
	int m = mountinfo_lookup(cfg->mount_path, &me);

	if (m <= 0)
		return m;
	if (strcmp(me.fstype, "btrfs") != 0 || !img_st ||
	    !loop_path_backs(me.source, img_st->st_dev, img_st->st_ino)) {
		snprintf(err, errsz,
			 "%s is already mounted (%s from %s) and it is not the ws-ckpt image %s; refusing to touch it. Unmount it or choose another mount_path.",
			 cfg->mount_path, me.fstype, me.source, cfg->img_path);
		return -1;
	}
	log_info("Reusing existing mount of %s at %s", cfg->img_path, cfg->mount_path);
	return 1;
}

static int attach_and_mount(struct privd *pd, char *err, size_t errsz)
{
	const struct config *cfg = &pd->cfg;
	char dev[64];
	int img_fd, loop_fd;
	struct stat st;

	img_fd = open(cfg->img_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (img_fd < 0) {
		snprintf(err, errsz, "cannot open image %s: %s", cfg->img_path, strerror(errno));
		return -1;
	}
	/* A loop device left attached to our image (but unmounted) is ours to reuse. */
	if (fstat(img_fd, &st) == 0) {
		int n = loop_find_backing(st.st_dev, st.st_ino);
		if (n >= 0) {
			snprintf(dev, sizeof(dev), "/dev/loop%d", n);
			close(img_fd);
			if (mount(dev, cfg->mount_path, "btrfs", MOUNT_FLAGS, NULL) < 0) {
				snprintf(err, errsz, "cannot mount %s at %s: %s", dev, cfg->mount_path,
					 strerror(errno));
				return -1;
			}
			snprintf(pd->be.last_loop_device, sizeof(pd->be.last_loop_device), "%s", dev);
			return 0;
		}
	}
	loop_fd = loop_attach(img_fd, cfg->img_path, dev, sizeof(dev));
	close(img_fd);
	if (loop_fd < 0) {
		snprintf(err, errsz, "cannot attach %s to a loop device: %s", cfg->img_path,
			 strerror(-loop_fd));
		return -1;
	}
	if (mount(dev, cfg->mount_path, "btrfs", MOUNT_FLAGS, NULL) < 0) {
		snprintf(err, errsz, "cannot mount %s (%s) at %s: %s", dev, cfg->img_path,
			 cfg->mount_path, strerror(errno));
		loop_detach(loop_fd);
		close(loop_fd);
		return -1;
	}
	/* The mount holds the device now; autoclear detaches it when unmounted. */
	close(loop_fd);
	snprintf(pd->be.last_loop_device, sizeof(pd->be.last_loop_device), "%s", dev);
	log_info("Mounted %s (%s) at %s", cfg->img_path, dev, cfg->mount_path);
	return 0;
}

static void describe_workspaces(const struct privd *pd, char *buf, size_t sz)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < pd->reg.n && o + 1 < sz; i++) {
		int n = snprintf(buf + o, sz - o, "%s%s (%s)", i ? ", " : "", pd->reg.ws[i]->ws_id,
				 pd->reg.ws[i]->path);
		if (n < 0 || (size_t)n >= sz - o)
			break;
		o += (size_t)n;
	}
}

/*
 * --no-mount runs in the unit's private mount namespace, where a mount would never reach
 * users: mounting is ExecStartPre's job, so a missing mount is a deployment error.
 */
static void refuse_unmounted(const struct config *cfg, char *err, size_t errsz)
{
	snprintf(err, errsz,
		 "--no-mount: %s is not mounted (image %s). With --no-mount, ws-ckptd never attaches a loop device or mounts; run `ws-ckptd --mount-only` first (the systemd unit does that in ExecStartPre=+/usr/sbin/ws-ckptd --mount-only)",
		 cfg->mount_path, cfg->img_path);
}

int backend_loop_bootstrap(struct privd *pd, bool have_state, char *err, size_t errsz)
{
	const struct config *cfg = &pd->cfg;
	struct stat st;
	bool have_img;
	int m;

	have_img = stat(cfg->img_path, &st) == 0;
	if (have_img && !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "image path %s is not a regular file", cfg->img_path);
		return -1;
	}
	if (have_img && (st.st_mode & 077)) {
		log_warn("image %s had mode %04o; tightening to 0600", cfg->img_path, st.st_mode & 07777);
		if (chmod(cfg->img_path, 0600) < 0)
			log_warn("cannot chmod %s: %s", cfg->img_path, strerror(errno));
	}
	/* Only reads /proc/self/mountinfo: decided before touching anything (--no-mount). */
	m = check_existing_mount(cfg, have_img ? &st : NULL, err, errsz);
	if (m < 0)
		return -1;
	if (m == 0 && pd->mount_mode == MOUNT_NEVER) {
		refuse_unmounted(cfg, err, errsz);
		return -1;
	}
	if (m == 0 && mkdir_p(cfg->mount_path, 0755) < 0) {
		snprintf(err, errsz, "cannot create mount point %s: %s", cfg->mount_path, strerror(errno));
		return -1;
	}
	if (m == 0 && !have_img) {
		if (have_state && pd->reg.n > 0) {
			char list[2048];
			describe_workspaces(pd, list, sizeof(list));
			snprintf(err, errsz,
				 "Backend image file not found at %s; persisted state expects a BtrfsLoop backend with %zu workspace(s): %s. Restore the image file (or mount it at %s) and start again; ws-ckpt will not create an empty image over it.",
				 cfg->img_path, pd->reg.n, list, cfg->mount_path);
			return -1;
		}
		if (create_image(pd, err, errsz) < 0)
			return -1;
		if (stat(cfg->img_path, &st) < 0) {
			snprintf(err, errsz, "image vanished after creation: %s", strerror(errno));
			return -1;
		}
	}
	if (m == 0 && attach_and_mount(pd, err, errsz) < 0)
		return -1;
	snprintf(pd->be.img_path, sizeof(pd->be.img_path), "%s", cfg->img_path);
	pd->be.img_size_bytes = (uint64_t)st.st_size;
	if (m == 1) {
		int n = loop_find_backing(st.st_dev, st.st_ino);
		if (n >= 0)
			snprintf(pd->be.last_loop_device, sizeof(pd->be.last_loop_device), "/dev/loop%d", n);
	}
	snprintf(pd->be.mount_path, sizeof(pd->be.mount_path), "%s", cfg->mount_path);
	snprintf(pd->be.data_root, sizeof(pd->be.data_root), "%s", cfg->mount_path);
	return 0;
}
