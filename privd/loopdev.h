/* Loop devices by ioctl only: find the one backing our image, attach, detach. */
#ifndef WSCKPT_LOOPDEV_H
#define WSCKPT_LOOPDEV_H

#include <stddef.h>
#include <sys/types.h>

/* Number of the loop device whose backing file is (dev, ino), or -1. */
int loop_find_backing(dev_t dev, ino_t ino);
/* True when devpath is a loop block device backed by (dev, ino). */
int loop_path_backs(const char *devpath, dev_t dev, ino_t ino);
/*
 * Attach img_fd to a free loop device (LOOP_CTL_GET_FREE + LOOP_CONFIGURE, direct I/O,
 * autoclear). Returns an open O_RDWR fd of the loop device and its path, or -errno.
 * With autoclear the device detaches when the last user (the mount) goes away.
 */
int loop_attach(int img_fd, const char *img_path, char *devpath, size_t devpathsz);
/* Detach by fd (used only on a device we attached moments ago). */
void loop_detach(int loop_fd);

#endif
