/* Inspect and repair the workspace symlink without ever resolving a user-controlled link. */
#include "privd/wslink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privd/fsutil.h"

static int open_parent(const struct workspace *w, const char **base)
{
	char parent[WS_PATH_MAX];
	const char *slash = strrchr(w->path, '/');

	if (!slash || slash[1] == '\0')
		return -EINVAL;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - w->path), w->path);
	*base = slash + 1;
	return open_nofollow_path(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY);
}

enum ws_link_state ws_link_check(const struct privd *pd, const struct workspace *w)
{
	char target[WS_PATH_MAX], want[WS_PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;
	int fd = open_parent(w, &base);

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
	n = readlinkat(fd, base, target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return WSL_UNKNOWN;
	target[n] = '\0';
	snprintf(want, sizeof(want), "%s/%s", pd->be.data_root, w->ws_id);
	return strcmp(target, want) == 0 ? WSL_OK : WSL_REPLACED;
}

int ws_link_restore(const struct privd *pd, const struct workspace *w)
{
	char want[WS_PATH_MAX];
	const char *base;
	int fd = open_parent(w, &base), rc = 0;

	if (fd < 0)
		return fd;
	snprintf(want, sizeof(want), "%s/%s", pd->be.data_root, w->ws_id);
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
