/* Path policy for init: never the root, system trees, or anything holding our own state. */
#include "privd/init_policy.h"

#include <stdio.h>
#include <string.h>

#include "common/validate.h"

static const char *const system_trees[] = { "/proc", "/sys", "/dev", "/run", "/boot", "/usr",
					    "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					    "/libx32", "/var/lib", "/var/run", "/var/log", NULL };

int init_path_allowed(const struct privd *pd, const char *path, char *why, size_t whysz)
{
	const char *ours[] = { pd->be.data_root, pd->be.mount_path, pd->cfg.state_dir,
			       pd->cfg.img_path, pd->cfg.socket_path, NULL };
	const char *slash;

	if (strcmp(path, "/") == 0) {
		snprintf(why, whysz, "refusing to manage the root directory");
		return -1;
	}
	slash = strrchr(path, '/');
	if (slash == path) {
		snprintf(why, whysz, "refusing to manage top-level directory %s", path);
		return -1;
	}
	for (int i = 0; system_trees[i]; i++) {
		if (path_is_within(path, system_trees[i])) {
			snprintf(why, whysz, "%s is inside system directory %s", path, system_trees[i]);
			return -1;
		}
	}
	for (int i = 0; ours[i]; i++) {
		if (!ours[i][0])
			continue;
		if (path_is_within(path, ours[i])) {
			snprintf(why, whysz, "%s is inside ws-ckpt's own storage (%s)", path, ours[i]);
			return -1;
		}
		if (path_is_within(ours[i], path)) {
			snprintf(why, whysz, "%s contains ws-ckpt's own storage (%s)", path, ours[i]);
			return -1;
		}
	}
	return 0;
}
