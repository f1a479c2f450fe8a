/*
 * The init copy, run by a worker as the workspace owner. Every open is O_NOFOLLOW and
 * relative to a directory fd, so a concurrent symlink swap cannot redirect it.
 */
#include "privd/copytree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct link_ent {
	dev_t dev;
	ino_t ino;
	char *rel; /* path of the first copy, relative to the destination root */
};

struct copier {
	int dst_root;
	struct link_ent *links;
	size_t nlinks, cap;
	char *msg;
	size_t msgsz;
	char rel[4096];
};

static int fail(struct copier *c, int e, const char *what)
{
	snprintf(c->msg, c->msgsz, "%s %s: %s", what, c->rel[0] ? c->rel : ".", strerror(e));
	return -e;
}

static int copy_xattrs(int src, int dst)
{
	char names[16384], val[65536];
	ssize_t len = flistxattr(src, names, sizeof(names));

	if (len < 0)
		return (errno == ENOTSUP || errno == EOPNOTSUPP) ? 0 : -errno;
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(names + off) + 1) {
		const char *n = names + off;
		ssize_t vl = fgetxattr(src, n, val, sizeof(val));
		if (vl < 0)
			continue;
		/* security.* and trusted.* may be refused to a non-root owner: not user data. */
		if (fsetxattr(dst, n, val, (size_t)vl, 0) < 0 && strncmp(n, "user.", 5) == 0)
			return -errno;
	}
	return 0;
}

static int copy_data(int in, int out, off_t size)
{
	char buf[65536];

	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	while (size > 0) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)size, 0);
		if (n <= 0)
			break;
		size -= n;
	}
	if (size <= 0)
		return 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			w += k;
		}
	}
}

static int set_meta(int fd, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchmod(fd, st->st_mode & 07777) < 0 || futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

static int copy_file(struct copier *c, int src_dir, int dst_dir, const char *name,
		     const struct stat *st)
{
	int in, out, rc;

	in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0)
		return fail(c, errno, "open");
	out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = fail(c, errno, "create");
		close(in);
		return rc;
	}
	rc = copy_data(in, out, st->st_size);
	if (rc == 0)
		rc = copy_xattrs(in, out);
	if (rc == 0)
		rc = set_meta(out, st);
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	return rc < 0 ? fail(c, -rc, "copy") : 0;
}

static int copy_symlink(struct copier *c, int src_dir, int dst_dir, const char *name,
			const struct stat *st)
{
	char target[4097];
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);

	if (n < 0)
		return fail(c, errno, "readlink");
	target[n] = '\0';
	if (symlinkat(target, dst_dir, name) < 0)
		return fail(c, errno, "symlink");
	utimensat(dst_dir, name, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* 1: linked to an earlier copy, 0: first sighting (recorded), <0 error. */
static int try_hardlink(struct copier *c, int dst_dir, const char *name, const struct stat *st)
{
	for (size_t i = 0; i < c->nlinks; i++) {
		if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino) {
			if (linkat(c->dst_root, c->links[i].rel, dst_dir, name, 0) < 0)
				return fail(c, errno, "link");
			return 1;
		}
	}
	if (c->nlinks == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct link_ent *nl = realloc(c->links, ncap * sizeof(*nl));
		if (!nl)
			return fail(c, ENOMEM, "hardlink table");
		c->links = nl;
		c->cap = ncap;
	}
	c->links[c->nlinks].dev = st->st_dev;
	c->links[c->nlinks].ino = st->st_ino;
	c->links[c->nlinks].rel = strdup(c->rel);
	if (!c->links[c->nlinks].rel)
		return fail(c, ENOMEM, "hardlink table");
	c->nlinks++;
	return 0;
}

static int copy_dir(struct copier *c, int src, int dst);

static int copy_subdir(struct copier *c, int src_dir, int dst_dir, const char *name,
		       const struct stat *st)
{
	int s, d, rc;

	if (mkdirat(dst_dir, name, 0700) < 0)
		return fail(c, errno, "mkdir");
	s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return fail(c, errno, "open directory");
	d = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0) {
		rc = fail(c, errno, "open new directory");
		close(s);
		return rc;
	}
	rc = copy_dir(c, s, d);
	if (rc == 0 && (copy_xattrs(s, d) < 0 || set_meta(d, st) < 0))
		rc = fail(c, errno, "set attributes of");
	close(s);
	close(d);
	return rc;
}

static int copy_entry(struct copier *c, int src, int dst, const char *name)
{
	struct stat st;
	size_t base = strlen(c->rel);
	int rc;

	if (base + strlen(name) + 2 >= sizeof(c->rel))
		return fail(c, ENAMETOOLONG, "path");
	snprintf(c->rel + base, sizeof(c->rel) - base, "%s%s", base ? "/" : "", name);
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fail(c, errno, "stat");
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		rc = try_hardlink(c, dst, name, &st);
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (S_ISREG(st.st_mode))
		rc = copy_file(c, src, dst, name, &st);
	else if (S_ISDIR(st.st_mode))
		rc = copy_subdir(c, src, dst, name, &st);
	else if (S_ISLNK(st.st_mode))
		rc = copy_symlink(c, src, dst, name, &st);
	else if (S_ISFIFO(st.st_mode))
		rc = mkfifoat(dst, name, st.st_mode & 07777) < 0 ? fail(c, errno, "mkfifo") : 0;
	else
		rc = fail(c, ENOTSUP, "cannot copy device node or socket");
out:
	c->rel[base] = '\0';
	return rc;
}

static int copy_dir(struct copier *c, int src, int dst)
{
	int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return fail(c, errno, "open directory");
	d = fdopendir(fd);
	if (!d) {
		rc = fail(c, errno, "read directory");
		close(fd);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = copy_entry(c, src, dst, de->d_name);
	}
	if (rc == 0 && errno != 0)
		rc = fail(c, errno, "read directory");
	closedir(d);
	return rc;
}

int copy_dir_attrs(int src_dirfd, int dst_dirfd)
{
	struct stat st;

	if (fstat(src_dirfd, &st) < 0)
		return -errno;
	if (copy_xattrs(src_dirfd, dst_dirfd) < 0)
		return -errno;
	return set_meta(dst_dirfd, &st);
}

int copy_tree(int src_dirfd, int dst_dirfd, char *msg, size_t msgsz)
{
	struct copier c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.dst_root = dst_dirfd;
	c.msg = msg;
	c.msgsz = msgsz;
	rc = copy_dir(&c, src_dirfd, dst_dirfd);
	if (rc == 0 && copy_dir_attrs(src_dirfd, dst_dirfd) < 0)
		rc = fail(&c, errno, "set attributes of");
	for (size_t i = 0; i < c.nlinks; i++)
		free(c.links[i].rel);
	free(c.links);
	return rc;
}

static int remove_contents(int dirfd, char *msg, size_t msgsz, int depth);

static int remove_entry(int dirfd, const char *name, char *msg, size_t msgsz, int depth)
{
	int fd, rc;

	if (unlinkat(dirfd, name, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		goto err;
	if (depth > 256) {
		errno = ELOOP;
		goto err;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto err;
	/* A read-only directory of our own: make it writable so it can be emptied. */
	fchmod(fd, 0700);
	rc = remove_contents(fd, msg, msgsz, depth + 1);
	close(fd);
	if (rc < 0)
		return rc;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
err:
	snprintf(msg, msgsz, "remove %s: %s", name, strerror(errno));
	return -errno;
}

static int remove_contents(int dirfd, char *msg, size_t msgsz, int depth)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = remove_entry(dirfd, de->d_name, msg, msgsz, depth);
	}
	closedir(d);
	return rc;
}

int remove_tree(int dirfd, const char *name, char *msg, size_t msgsz)
{
	return remove_entry(dirfd, name, msg, msgsz, 0);
}
