/*
 * Reconcile at every start. Interrupted inits are finished or undone by looking at what
 * is on disk (the swap is atomic, so the user's path is either the original directory or
 * our symlink). Snapshots whose subvolume vanished are flagged, never silently dropped.
 */
#include "privd/reconcile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/fsutil.h"
#include "privd/init.h"
#include "privd/state_store.h"

/* 1 if the registered path is now our symlink to <data_root>/<ws_id>. */
static int path_is_our_link(const struct privd *pd, const struct workspace *w)
{
	char parent[WS_PATH_MAX], target[WS_PATH_MAX], want[WS_PATH_MAX];
	const char *slash = strrchr(w->path, '/');
	ssize_t n;
	int fd;

	if (!slash)
		return 0;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - w->path), w->path);
	fd = open_nofollow_path(parent[0] ? parent : "/", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return 0;
	n = readlinkat(fd, slash + 1, target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return 0;
	target[n] = '\0';
	snprintf(want, sizeof(want), "%s/%s", pd->be.data_root, w->ws_id);
	return strcmp(target, want) == 0;
}

/* 1: completed, 2: undone and removed from the registry. */
static int finish_init(struct privd *pd, struct workspace *w)
{
	char err[512];

	if (path_is_our_link(pd, w)) {
		log_warn("init of %s (%s) was interrupted after the swap: completing it. The original directory may remain as " INIT_LINK_FMT " next to it; remove it by hand once satisfied.",
			 w->path, w->ws_id, w->ws_id);
		w->phase = WS_READY;
		index_save(pd, w);
		return 1;
	}
	log_warn("init of %s (%s) was interrupted before the swap: undoing it (the directory is untouched)",
		 w->path, w->ws_id);
	if (bt_is_subvol(pd->data_root_fd, w->ws_id) == 1 &&
	    bt_delete_subvol(pd->data_root_fd, w->ws_id, err, sizeof(err)) < 0)
		log_err("cannot remove subvolume %s: %s", w->ws_id, err);
	registry_remove(&pd->reg, w);
	return 2;
}

static int check_snapshots(struct privd *pd, struct workspace *w)
{
	int bucket = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	int changes = 0;

	for (size_t i = 0; i < w->nsnaps; i++) {
		struct snapshot *s = &w->snaps[i];
		bool present = bucket >= 0 && bt_is_subvol(bucket, s->id) == 1;

		if (!present && !s->missing) {
			log_err("Snapshot %s subvolume missing at %s/%s/%s, marking as unavailable", s->id,
				pd->be.snapshots_root, w->ws_id, s->id);
			s->missing = true;
			changes++;
		} else if (present && s->missing) {
			log_info("Snapshot %s subvolume recovered", s->id);
			s->missing = false;
			changes++;
		}
	}
	if (bucket >= 0)
		close(bucket);
	if (changes)
		index_save(pd, w);
	return changes;
}

int reconcile_all(struct privd *pd)
{
	int changes = 0;
	char err[512];

	for (size_t i = 0; i < pd->reg.n;) {
		struct workspace *w = pd->reg.ws[i];
		int rc = index_load(pd, w, err, sizeof(err));

		if (rc < 0 && rc != -ENOENT)
			log_err("%s", err);
		if (w->phase == WS_INITIALIZING) {
			changes++;
			if (finish_init(pd, w) == 2)
				continue; /* removed: ws[i] is now the next one */
		}
		if (bt_is_subvol(pd->data_root_fd, w->ws_id) != 1)
			log_err("workspace %s (%s): live subvolume %s/%s is missing", w->ws_id, w->path,
				pd->be.data_root, w->ws_id);
		changes += check_snapshots(pd, w);
		i++;
	}
	if (changes)
		state_save(pd);
	return changes;
}
