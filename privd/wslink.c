/* Inspect and repair the workspace symlink without ever resolving a user-controlled link. */
#include "privd/wslink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privd/fsutil.h"

int ws_open_parent(const char *path, const char **base)
{
	char parent[WS_PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash || slash[1] == '\0')
		return -EINVAL;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	*base = slash + 1;
	return open_nofollow_path(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY);
}

void ws_link_target(const struct privd *pd, const char *ws_id, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", pd->be.data_root, ws_id);
}

bool link_points_to(int dirfd, const char *name, const char *target)
{
	char buf[WS_PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, target) == 0;
}

enum ws_link_state ws_link_check(const struct privd *pd, const struct workspace *w)
{
	char want[WS_PATH_MAX];
	const char *base;
	struct stat st;
	bool ours;
	int fd = ws_open_parent(w->path, &base);

	if (fd < 0)
		return fd == -ENOENT ? WSL_MISSING : WSL_UNKNOWN;
	if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;
		close(fd);
		return e == ENOENT ? WSL_MISSING : WSL_UNKNOWN;
	}
	if (!S_ISLNK(st.st_mode)) {
		close(fd);
		return WSL_REPLACED;
	}
	ws_link_target(pd, w->ws_id, want, sizeof(want));
	ours = link_points_to(fd, base, want);
	close(fd);
	return ours ? WSL_OK : WSL_REPLACED;
}

int ws_link_restore(const struct privd *pd, const struct workspace *w)
{
	char want[WS_PATH_MAX];
	const char *base;
	int fd = ws_open_parent(w->path, &base), rc = 0;

	if (fd < 0)
		return fd;
	ws_link_target(pd, w->ws_id, want, sizeof(want));
	/* Created through the parent fd we opened without following links: it lands in that
	 * directory and nowhere else; then handed to the owner like the one init made. */
	if (symlinkat(want, fd, base) < 0 ||
	    fchownat(fd, base, w->owner_uid, w->owner_gid, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
