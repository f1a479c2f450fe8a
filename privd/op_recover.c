/*
 * recover: make a managed workspace a plain directory again. A worker running as the
 * owner copies the live subvolume into a new directory next to the symlink and swaps the
 * two with RENAME_EXCHANGE; only after that swap is fsync'd does privd delete the
 * snapshots and the subvolume. A failed copy (full disk, read-only parent) removes the
 * partial copy and changes nothing.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/copytree.h"
#include "privd/fsutil.h"
#include "privd/index_journal.h"
#include "privd/ops.h"
#include "privd/recover.h"
#include "privd/state_store.h"
#include "privd/worker.h"
#include "privd/wslink.h"
#include "privd/wsresolve.h"

struct recover_job {
	struct req_ctx rc;
	char ws_id[WS_ID_LEN + 1];
	char base[256];
	char link_target[CFG_PATH_MAX + 16];
	int parent_fd, live_fd;
};

static void job_free(struct recover_job *j)
{
	if (j->parent_fd >= 0)
		close(j->parent_fd);
	if (j->live_fd >= 0)
		close(j->live_fd);
	free(j);
}


static int copy_out(struct recover_job *j, const char *tmp, char *msg, size_t msgsz)
{
	int dst, rc;

	if (mkdirat(j->parent_fd, tmp, 0700) < 0) {
		snprintf(msg, msgsz, "cannot create %s next to %s: %s", tmp, j->base, strerror(errno));
		return -errno;
	}
	dst = openat(j->parent_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0) {
		snprintf(msg, msgsz, "cannot open %s: %s", tmp, strerror(errno));
		return -errno;
	}
	rc = copy_tree(j->live_fd, dst, msg, msgsz);
	if (rc == 0 && (fsync(dst) < 0 || syncfs(dst) < 0)) {
		rc = -errno;
		snprintf(msg, msgsz, "cannot flush the copy: %s", strerror(errno));
	}
	close(dst);
	return rc;
}

/* Runs as the owner. */
static int recover_worker(void *arg, char *msg, size_t msgsz)
{
	struct recover_job *j = arg;
	char tmp[300], rmmsg[256];
	int rc;

	snprintf(tmp, sizeof(tmp), RECOVER_TMP_FMT, j->ws_id);
	remove_tree(j->parent_fd, tmp, rmmsg, sizeof(rmmsg)); /* an earlier failed attempt */
	rc = copy_out(j, tmp, msg, msgsz);
	if (rc == 0 && !link_points_to(j->parent_fd, j->base, j->link_target)) {
		snprintf(msg, msgsz, "%s is no longer the workspace symlink; nothing changed", j->base);
		rc = -ESTALE;
	}
	if (rc == 0) {
		crash_point("recover.worker.copied");
		if (renameat2(j->parent_fd, tmp, j->parent_fd, j->base, RENAME_EXCHANGE) < 0) {
			rc = -errno;
			snprintf(msg, msgsz, "cannot swap the copy into place: %s", strerror(errno));
		}
	}
	if (rc < 0) {
		remove_tree(j->parent_fd, tmp, rmmsg, sizeof(rmmsg));
		return rc;
	}
	if (fsync(j->parent_fd) < 0) {
		snprintf(msg, msgsz, "cannot flush %s: %s", j->base, strerror(errno));
		return 1; /* swapped; the parent will reach disk with the next sync */
	}
	/* tmp is now the old symlink: privd removes it last, so that after a crash it
	 * still proves the swap happened. */
	msg[0] = '\0';
	return 0;
}

static void delete_bucket(struct privd *pd, const char *ws_id)
{
	int bucket = open_beneath(pd->snapshots_fd, ws_id, O_RDONLY | O_DIRECTORY);
	char err[512];
	struct dirent *de;
	DIR *d;

	if (bucket < 0)
		return;
	d = fdopendir(bucket);
	if (!d) {
		close(bucket);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (bt_is_subvol(dirfd(d), de->d_name) == 1 &&
		    bt_delete_subvol(dirfd(d), de->d_name, err, sizeof(err)) < 0)
			log_err("recover %s: %s", ws_id, err);
	}
	closedir(d);
	if (unlinkat(pd->snapshots_fd, ws_id, AT_REMOVEDIR) < 0 && errno != ENOENT)
		log_warn("recover %s: cannot remove the snapshot bucket: %s", ws_id, strerror(errno));
}

static void remove_index(struct privd *pd, const char *ws_id)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%s/" INDEX_JOURNAL_FILE, ws_id);
	unlinkat(pd->indexes_fd, rel, 0);
	snprintf(rel, sizeof(rel), "%s/index.json", ws_id);
	unlinkat(pd->indexes_fd, rel, 0);
	unlinkat(pd->indexes_fd, ws_id, AT_REMOVEDIR);
	fsync(pd->indexes_fd);
}

/* Parent of path, opened without following links, and the name and target of the old
 * symlink recover leaves at the temporary name. fd or -errno. */
static int open_old_link(const struct privd *pd, const char *path, const char *ws_id, char *tmp,
			 size_t tmpsz, char *target, size_t targetsz)
{
	const char *base;

	snprintf(tmp, tmpsz, RECOVER_TMP_FMT, ws_id);
	ws_link_target(pd, ws_id, target, targetsz);
	return ws_open_parent(path, &base);
}

/* The old symlink at the temporary name, if it is still ours. */
static void remove_old_link(struct privd *pd, const char *path, const char *ws_id)
{
	char tmp[300], target[WS_PATH_MAX];
	int fd = open_old_link(pd, path, ws_id, tmp, sizeof(tmp), target, sizeof(target));

	if (fd < 0)
		return;
	if (link_points_to(fd, tmp, target) && unlinkat(fd, tmp, 0) == 0)
		fsync(fd);
	close(fd);
}

bool recover_swapped(const struct privd *pd, const struct workspace *w)
{
	char tmp[300], target[WS_PATH_MAX];
	int fd = open_old_link(pd, w->path, w->ws_id, tmp, sizeof(tmp), target, sizeof(target));
	bool swapped;

	if (fd < 0)
		return false;
	swapped = link_points_to(fd, tmp, target);
	close(fd);
	return swapped;
}

void recover_finish(struct privd *pd, struct workspace *w)
{
	char err[512], ws_id[WS_ID_LEN + 1], path[WS_PATH_MAX];
	int rc;

	snprintf(ws_id, sizeof(ws_id), "%s", w->ws_id);
	snprintf(path, sizeof(path), "%s", w->path);
	crash_point("recover.swapped");
	delete_bucket(pd, ws_id);
	if (bt_is_subvol(pd->data_root_fd, ws_id) == 1 &&
	    bt_delete_subvol(pd->data_root_fd, ws_id, err, sizeof(err)) < 0)
		log_err("recover %s: %s", ws_id, err);
	/* Committed before the workspace is forgotten: a power cut would bring its subvolumes
	 * back, unreferenced, and nothing would ever remove them. syncfs, since on a restart
	 * that finishes this only the buckets may have changed. */
	rc = bt_commit(pd->data_root_fd, true);
	if (rc < 0) {
		log_err("recover %s: cannot commit the removal of its subvolumes: %s (the next start finishes it)",
			ws_id, strerror(-rc));
		return;
	}
	/* Unregister before removing the old link: the link proves the swap happened, so
	 * while the workspace is still registered, a restart can finish this. */
	registry_remove(&pd->reg, w);
	state_save(pd);
	remove_old_link(pd, path, ws_id);
	remove_index(pd, ws_id);
	log_info("workspace %s recovered to a plain directory", ws_id);
}

static void recover_done(struct privd *pd, void *arg, int rc, const char *msg)
{
	struct recover_job *j = arg;
	struct workspace *w = registry_by_id(&pd->reg, j->ws_id);
	cJSON *r;

	if (!w) {
		reply_err(&j->rc, WSE_INTERNAL, NULL, "workspace vanished during recover");
		job_free(j);
		return;
	}
	w->busy = false;
	if (rc < 0) {
		w->phase = WS_READY;
		state_save(pd);
		reply_err(&j->rc, rc == -ENOSPC || rc == -EDQUOT ? WSE_DISK_SPACE : WSE_IO,
			  "Nothing was changed; the workspace is still managed.", "recover of %s failed: %s",
			  w->path, msg);
		job_free(j);
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "workspace_path", w->path);
	recover_finish(pd, w);
	reply_ok(&j->rc, r);
	job_free(j);
}

static int open_fds(struct privd *pd, const struct op_call *c, struct workspace *w,
		    struct recover_job *j)
{
	const char *base;

	j->parent_fd = ws_open_parent(w->path, &base);
	if (j->parent_fd >= 0)
		snprintf(j->base, sizeof(j->base), "%s", base);
	j->live_fd = open_beneath(pd->data_root_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
	if (j->parent_fd < 0 || j->live_fd < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot open %s: %s",
			  j->parent_fd < 0 ? "the directory holding the workspace" : "the live subvolume",
			  strerror(-(j->parent_fd < 0 ? j->parent_fd : j->live_fd)));
		return -1;
	}
	return 0;
}

void op_recover(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_lookup(pd, c, c->req->workspace, true);
	struct recover_job *j;
	int keep[2], rc;

	if (!w)
		return;
	if (ws_link_check(pd, w) != WSL_OK) {
		reply_err(&c->rc, WSE_INVALID_PATH, "Move what is at that path away first.",
			  "%s is not the ws-ckpt symlink of %s; refusing to recover over it", w->path, w->ws_id);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		reply_err(&c->rc, WSE_INTERNAL, NULL, "out of memory");
		return;
	}
	j->rc = c->rc;
	snprintf(j->ws_id, sizeof(j->ws_id), "%s", w->ws_id);
	ws_link_target(pd, w->ws_id, j->link_target, sizeof(j->link_target));
	if (open_fds(pd, c, w, j) < 0) {
		job_free(j);
		return;
	}
	w->phase = WS_RECOVERING;
	w->busy = true;
	if (state_save(pd) < 0) {
		w->phase = WS_READY;
		w->busy = false;
		reply_err(&c->rc, WSE_IO, NULL, "cannot record the recover intent in state.json");
		job_free(j);
		return;
	}
	keep[0] = j->parent_fd;
	keep[1] = j->live_fd;
	rc = worker_spawn(pd, w->owner_uid, w->owner_gid, keep, 2, recover_worker, j, recover_done, j);
	if (rc < 0) {
		w->phase = WS_READY;
		w->busy = false;
		state_save(pd);
		reply_err(&c->rc, WSE_INTERNAL, NULL, "cannot start the recover worker: %s", strerror(-rc));
		job_free(j);
	}
}

/*
 * unregister: forget a workspace whose live subvolume is gone (nothing to recover). Its
 * index is archived as indexes/<ws_id>.unregistered-<time>; snapshot subvolumes that are
 * still on disk are left where they are and named in the log, never deleted here.
 */
void op_unregister(struct privd *pd, const struct op_call *c)
{
	struct workspace *w = ws_find_visible(pd, c->peer, c->req->workspace);
	char archive[96], ws_id[WS_ID_LEN + 1];
	struct timespec now;
	cJSON *r;

	if (!w) {
		reply_err(&c->rc, WSE_WORKSPACE_NOT_FOUND, NULL, "workspace not found: %s", c->req->workspace);
		return;
	}
	if (w->busy || w->phase != WS_READY) {
		reply_err(&c->rc, WSE_WRITE_LOCK_CONFLICT, NULL, "workspace %s is busy", w->ws_id);
		return;
	}
	if (bt_is_subvol(pd->data_root_fd, w->ws_id) != 0) {
		reply_err(&c->rc, WSE_INVALID_ARGUMENT,
			  "Use 'ws-ckpt recover' to turn it back into a plain directory.",
			  "workspace %s still has its live subvolume; unregister is only for workspaces whose data is gone",
			  w->ws_id);
		return;
	}
	/* The archive is read by people and by the Rust ws-ckpt: index.json alone must be whole. */
	if (w->index_on_disk && (w->journal_bytes > 0 || w->journal_broken))
		index_compact(pd, w);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(ws_id, sizeof(ws_id), "%s", w->ws_id);
	snprintf(archive, sizeof(archive), "%s.unregistered-%lld", ws_id, (long long)now.tv_sec);
	if (renameat(pd->indexes_fd, ws_id, pd->indexes_fd, archive) < 0 && errno != ENOENT) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot archive the index of %s: %s", ws_id, strerror(errno));
		return;
	}
	fsync(pd->indexes_fd);
	if (w->nsnaps)
		log_warn("unregister %s: %zu snapshot record(s) archived in indexes/%s; any snapshot subvolumes stay in %s/%s",
			 ws_id, w->nsnaps, archive, pd->be.snapshots_root, ws_id);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ws_id", ws_id);
	cJSON_AddStringToObject(r, "workspace_path", w->path);
	cJSON_AddStringToObject(r, "archived_index", archive);
	registry_remove(&pd->reg, w);
	state_save(pd);
	log_info("workspace %s unregistered", ws_id);
	reply_ok(&c->rc, r);
}
