/* Loop device handling through /dev/loop-control and LOOP_* ioctls, no losetup. */
#include "privd/loopdev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"

#define LOOP_MAJOR_NR 7

static int loop_status_matches(int fd, dev_t dev, ino_t ino)
{
	struct loop_info64 info;

	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		return 0; /* ENXIO: not attached */
	return info.lo_device == (uint64_t)dev && info.lo_inode == (uint64_t)ino;
}

int loop_path_backs(const char *devpath, dev_t dev, ino_t ino)
{
	struct stat st;
	int fd, ok;

	/* btrfs reports an anonymous st_dev, so the mount source names the device. */
	if (strncmp(devpath, "/dev/loop", 9) != 0 || stat(devpath, &st) < 0 ||
	    !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR_NR)
		return 0;
	fd = open(devpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = loop_status_matches(fd, dev, ino);
	close(fd);
	return ok;
}

int loop_find_backing(dev_t dev, ino_t ino)
{
	for (int n = 0; n < 1024; n++) {
		char path[64];
		int fd, ok;

		snprintf(path, sizeof(path), "/dev/loop%d", n);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT && n >= 64)
				break;
			continue;
		}
		ok = loop_status_matches(fd, dev, ino);
		close(fd);
		if (ok)
			return n;
	}
	return -1;
}

static int configure_one(int ctl, int img_fd, const char *img_path, char *devpath, size_t devpathsz)
{
	struct loop_config lc;
	int n, fd;

	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0)
		return -errno;
	snprintf(devpath, devpathsz, "/dev/loop%d", n);
	fd = open(devpath, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&lc, 0, sizeof(lc));
	lc.fd = (unsigned int)img_fd;
	lc.info.lo_flags = LO_FLAGS_DIRECT_IO | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", img_path);
	if (ioctl(fd, LOOP_CONFIGURE, &lc) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int loop_attach(int img_fd, const char *img_path, char *devpath, size_t devpathsz)
{
	int ctl, fd = -EBUSY;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	/* Another process may take the free device between GET_FREE and CONFIGURE. */
	for (int tries = 0; tries < 16; tries++) {
		fd = configure_one(ctl, img_fd, img_path, devpath, devpathsz);
		if (fd != -EBUSY)
			break;
	}
	close(ctl);
	return fd;
}

void loop_detach(int loop_fd)
{
	if (ioctl(loop_fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		log_warn("cannot detach loop device: %s", strerror(errno));
}
