/* Backend selection (config override > persisted > auto-detect) and the directories we use. */
#include "privd/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/backend_loop.h"
#include "privd/fsutil.h"
#include "privd/mountinfo.h"

static const char *type_display(const char *t)
{
	return strcmp(t, "BtrfsBase") == 0 ? "btrfs-base" : "btrfs-loop";
}

static void select_type(struct privd *pd, bool have_state)
{
	char now[RFC3339_MAX];
	const char *want = NULL;

	rfc3339_now(now, sizeof(now));
	if (pd->cfg.backend != BACKEND_AUTO) {
		want = pd->cfg.backend == BACKEND_LOOP ? "BtrfsLoop" : "BtrfsBase";
		if (have_state && strcmp(want, pd->be.backend_type) != 0)
			log_warn("config selects backend '%s' but state.json recorded '%s'; the config wins",
				 type_display(want), type_display(pd->be.backend_type));
		if (!have_state || strcmp(pd->be.selection_method, "config-override") != 0 ||
		    strcmp(want, pd->be.backend_type) != 0)
			snprintf(pd->be.selected_at, sizeof(pd->be.selected_at), "%s", now);
		snprintf(pd->be.backend_type, sizeof(pd->be.backend_type), "%s", want);
		snprintf(pd->be.selection_method, sizeof(pd->be.selection_method), "config-override");
		return;
	}
	if (have_state) {
		/* The persisted type is authoritative; its selected_at is kept. */
		snprintf(pd->be.selection_method, sizeof(pd->be.selection_method), "persisted");
		return;
	}
	{
		char mp[CFG_PATH_MAX];
		want = mountinfo_find_btrfs_base(mp, sizeof(mp)) == 1 ? "BtrfsBase" : "BtrfsLoop";
	}
	snprintf(pd->be.backend_type, sizeof(pd->be.backend_type), "%s", want);
	snprintf(pd->be.selection_method, sizeof(pd->be.selection_method), "auto-detect");
	snprintf(pd->be.selected_at, sizeof(pd->be.selected_at), "%s", now);
}

static int base_bootstrap(struct privd *pd, char *err, size_t errsz)
{
	char mp[CFG_PATH_MAX];
	struct mount_entry me;

	if (pd->cfg.btrfs_mount[0]) {
		snprintf(mp, sizeof(mp), "%s", pd->cfg.btrfs_mount);
		if (mountinfo_lookup(mp, &me) != 1 || strcmp(me.fstype, "btrfs") != 0) {
			snprintf(err, errsz, "btrfs_mount %s is not a mounted btrfs filesystem", mp);
			return -1;
		}
	} else if (mountinfo_find_btrfs_base(mp, sizeof(mp)) != 1) {
		snprintf(err, errsz,
			 "Backend type 'btrfs-base' selected but no mounted btrfs partition found. Please mount a btrfs partition or switch to 'btrfs-loop' backend.");
		return -1;
	}
	if (snprintf(pd->be.mount_path, sizeof(pd->be.mount_path), "%s/ws-ckpt-data", mp) >=
		    (int)sizeof(pd->be.mount_path) ||
	    snprintf(pd->be.data_root, sizeof(pd->be.data_root), "%s/ws-ckpt-data", mp) >=
		    (int)sizeof(pd->be.data_root)) {
		snprintf(err, errsz, "btrfs mount path %s is too long", mp);
		return -1;
	}
	pd->be.img_path[0] = '\0';
	if (mkdir(pd->be.data_root, 0711) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s: %s", pd->be.data_root, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_roots(struct privd *pd, char *err, size_t errsz)
{
	int fd;

	fd = open_nofollow_path(pd->be.data_root, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open data root %s: %s", pd->be.data_root, strerror(-fd));
		return -1;
	}
	/* Users traverse to their own <ws_id> through the symlink but cannot list others. */
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0711) < 0) {
		snprintf(err, errsz, "cannot set owner/mode of %s: %s", pd->be.data_root, strerror(errno));
		close(fd);
		return -1;
	}
	pd->data_root_fd = fd;
	/* Traverse-only: owners reach their own bucket, nobody lists the workspaces. */
	fd = ensure_dir_at(pd->data_root_fd, "snapshots", 0711, 0, 0);
	if (fd < 0) {
		snprintf(err, errsz, "cannot open %s/snapshots: %s", pd->be.data_root, strerror(-fd));
		return -1;
	}
	pd->snapshots_fd = fd;
	if (snprintf(pd->be.snapshots_root, sizeof(pd->be.snapshots_root), "%s/snapshots",
		     pd->be.data_root) >= (int)sizeof(pd->be.snapshots_root)) {
		snprintf(err, errsz, "data root path %s is too long", pd->be.data_root);
		return -1;
	}
	return 0;
}

int backend_bootstrap(struct privd *pd, bool have_state, char *err, size_t errsz)
{
	int rc;

	select_type(pd, have_state);
	log_info("Backend: %s (%s)", type_display(pd->be.backend_type), pd->be.selection_method);
	if (strcmp(pd->be.backend_type, "BtrfsBase") == 0)
		rc = base_bootstrap(pd, err, errsz);
	else
		rc = backend_loop_bootstrap(pd, have_state, err, errsz);
	if (rc < 0)
		return -1;
	return open_roots(pd, err, errsz);
}
