/*
 * init: privd validates and opens the directory without following symlinks, creates the
 * subvolume owned by the owner and records an "initializing" intent in state.json; a
 * worker running as the owner copies the data in and swaps the directory for a symlink
 * with RENAME_EXCHANGE. The original is removed only after the swap is fsync'd.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/copytree.h"
#include "privd/fsutil.h"
#include "privd/init.h"
#include "privd/init_policy.h"
#include "privd/state_store.h"
#include "privd/worker.h"
#include "privd/wslink.h"
#include "privd/wsresolve.h"

struct init_job {
	struct req_ctx rc;
	bool then_checkpoint;
	struct ps_request req; /* copy: the checkpoint to run afterwards */
	char *metadata;
	uid_t uid;
	char ws_id[WS_ID_LEN + 1];
	int parent_fd, dir_fd, subvol_fd;
	char base[256];
	char link_target[CFG_PATH_MAX + 16];
	dev_t dir_dev;
	ino_t dir_ino;
};

static void job_free(struct init_job *j)
{
	if (j->parent_fd >= 0)
		close(j->parent_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	if (j->subvol_fd >= 0)
		close(j->subvol_fd);
	free(j->metadata);
	free(j);
}

static bool same_inode(int dirfd, const char *name, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_dev == dev && st.st_ino == ino;
}

/* Runs as the owner. */
static int init_worker(void *arg, char *msg, size_t msgsz)
{
	struct init_job *j = arg;
	char link[300];
	int rc;

	rc = copy_tree(j->dir_fd, j->subvol_fd, msg, msgsz);
	if (rc < 0)
		return rc;
	crash_point("init.worker.copied");
	if (fsync(j->subvol_fd) < 0 || syncfs(j->subvol_fd) < 0) {
		snprintf(msg, msgsz, "cannot flush the copied workspace: %s", strerror(errno));
		return -errno;
	}
	snprintf(link, sizeof(link), INIT_LINK_FMT, j->ws_id);
	unlinkat(j->parent_fd, link, 0); /* a stale symlink of an earlier attempt */
	if (symlinkat(j->link_target, j->parent_fd, link) < 0) {
		snprintf(msg, msgsz, "cannot create symlink next to %s: %s", j->base, strerror(errno));
		return -errno;
	}
	/* The directory must still be the one we copied, not something swapped in since. */
	if (!same_inode(j->parent_fd, j->base, j->dir_dev, j->dir_ino)) {
		unlinkat(j->parent_fd, link, 0);
		snprintf(msg, msgsz, "%s was replaced while it was being copied; nothing changed", j->base);
		return -ESTALE;
	}
	if (renameat2(j->parent_fd, link, j->parent_fd, j->base, RENAME_EXCHANGE) < 0) {
		rc = -errno;
		unlinkat(j->parent_fd, link, 0);
		snprintf(msg, msgsz, "cannot swap %s for the workspace symlink: %s", j->base, strerror(-rc));
		return rc;
	}
	if (fsync(j->parent_fd) < 0) {
		snprintf(msg, msgsz, "cannot flush the directory holding %s: %s", j->base, strerror(errno));
		return -errno; /* privd keeps the original: it is not yet safe to delete */
	}
	crash_point("init.worker.swapped");
	/* Durable now: the original (at the link name) may go, if it is still ours. */
	if (same_inode(j->parent_fd, link, j->dir_dev, j->dir_ino) &&
	    remove_tree(j->parent_fd, link, msg, msgsz) < 0) {
		/* Not fatal: the data is safe in the subvolume; the leftover is reported. */
		return 1;
	}
	msg[0] = '\0';
	return 0;
}

static void reply_init(const struct init_job *j, const struct workspace *w, bool already)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "ws_id", w->ws_id);
	cJSON_AddStringToObject(r, "workspace_path", w->path);
	cJSON_AddBoolToObject(r, "already_initialized", already);
	reply_ok(&j->rc, r);
}

static void abandon(struct privd *pd, struct workspace *w)
{
	char err[512];

	if (bt_delete_subvol(pd->data_root_fd, w->ws_id, err, sizeof(err)) < 0)
		log_err("cannot remove subvolume of failed init %s: %s", w->ws_id, err);
	registry_remove(&pd->reg, w);
	state_save(pd);
}

static void init_done(struct privd *pd, void *arg, int rc, const char *msg)
{
	struct init_job *j = arg;
	struct workspace *w = registry_by_id(&pd->reg, j->ws_id);

	if (!w) {
		log_err("init %s finished but the workspace vanished from the registry", j->ws_id);
		reply_err(&j->rc, WSE_INTERNAL, NULL, "workspace vanished during init");
		job_free(j);
		return;
	}
	w->busy = false;
	if (rc < 0 && ws_link_check(pd, w) == WSL_OK) {
		/* The worker died after the swap: the data is in the subvolume, init stands. */
		log_warn("init of %s: worker failed after the swap (%s); keeping the workspace", w->path, msg);
		rc = 1;
	}
	if (rc < 0) {
		char path[WS_PATH_MAX];

		log_warn("init of %s (%s) failed: %s", w->path, w->ws_id, msg);
		snprintf(path, sizeof(path), "%s", w->path);
		/* Undo first, answer second: the client must never see the half-made state. */
		abandon(pd, w);
		reply_err(&j->rc, rc == -ENOSPC ? WSE_DISK_SPACE : WSE_IO, "Nothing was changed in your directory.",
			  "init of %s failed: %s", path, msg);
		job_free(j);
		return;
	}
	if (rc > 0)
		log_warn("init of %s: data is safe but the original could not be fully removed: %s",
			 w->path, msg);
	crash_point("init.swapped");
	w->phase = WS_READY;
	if (index_save(pd, w) < 0 || state_save(pd) < 0)
		log_err("init of %s: state could not be saved; it is recovered at the next start", w->ws_id);
	crash_point("init.done");
	log_info("workspace %s initialized at %s (owner uid %u)", w->ws_id, w->path, (unsigned)w->owner_uid);
	if (j->then_checkpoint)
		op_checkpoint_after_init(pd, &j->rc, j->uid, &j->req, j->metadata, w);
	else
		reply_init(j, w, false);
	job_free(j);
}

static int new_ws_id(const struct privd *pd, char *out)
{
	for (int tries = 0; tries < 64; tries++) {
		unsigned char r[3];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -1;
		snprintf(out, WS_ID_LEN + 1, "ws-%02x%02x%02x", r[0], r[1], r[2]);
		if (!registry_by_id(&pd->reg, out) && bt_is_subvol(pd->data_root_fd, out) == 0)
			return 0;
	}
	return -1;
}

/* Open parent and directory without following any symlink or crossing a mount. */
static int open_target(struct privd *pd, const struct op_call *c, struct init_job *j, struct stat *st)
{
	const char *path = c->req->workspace;
	char parent[WS_PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat pst;
	int fd;

	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	if (parent[0] == '\0')
		strcpy(parent, "/");
	snprintf(j->base, sizeof(j->base), "%s", slash + 1);
	fd = open_nofollow_path(parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		reply_err(&c->rc, WSE_INVALID_PATH, "Use the real path of the directory (no symlinks in it).",
			  "cannot open parent directory %s: %s", parent,
			  fd == -ELOOP ? "a component is a symlink" : strerror(-fd));
		return -1;
	}
	j->parent_fd = fd;
	fd = open_beneath(j->parent_fd, j->base, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		const char *why = fd == -ELOOP ? "it is a symlink (already a workspace, or points elsewhere)"
			: fd == -EXDEV ? "it is a mount point"
			: fd == -ENOTDIR ? "it is not a directory" : strerror(-fd);
		reply_err(&c->rc, WSE_INVALID_PATH, NULL, "cannot initialize %s: %s", path, why);
		return -1;
	}
	j->dir_fd = fd;
	if (fstat(j->dir_fd, st) < 0 || fstat(j->parent_fd, &pst) < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (st->st_dev != pst.st_dev) {
		reply_err(&c->rc, WSE_INVALID_PATH, NULL, "cannot initialize %s: it is a mount point", path);
		return -1;
	}
	return 0;
}

static int check_caller(struct privd *pd, const struct op_call *c, const struct stat *st)
{
	size_t owned = 0;
	struct stat rootst;

	if (!peer_is_admin(pd, c->peer) && st->st_uid != c->peer->uid) {
		reply_err(&c->rc, WSE_PERMISSION_DENIED, "Only the owner of a directory can initialize it.",
			  "you do not own %s", c->req->workspace);
		return -1;
	}
	if (fstat(pd->data_root_fd, &rootst) == 0 && rootst.st_dev == st->st_dev) {
		reply_err(&c->rc, WSE_INVALID_PATH, NULL, "%s is inside ws-ckpt's storage", c->req->workspace);
		return -1;
	}
	for (size_t i = 0; i < pd->reg.n; i++)
		owned += pd->reg.ws[i]->owner_uid == st->st_uid;
	if (pd->cfg.max_workspaces_per_user && owned >= pd->cfg.max_workspaces_per_user) {
		reply_err(&c->rc, WSE_QUOTA_EXCEEDED, NULL,
			  "uid %u already has %zu workspaces (max_workspaces_per_user = %u)",
			  (unsigned)st->st_uid, owned, pd->cfg.max_workspaces_per_user);
		return -1;
	}
	return 0;
}

/* Registers the intent and creates the subvolume; returns the workspace or NULL (answered). */
static struct workspace *prepare(struct privd *pd, const struct op_call *c, struct init_job *j,
				 const struct stat *st)
{
	char err[512];
	struct workspace *w;

	if (new_ws_id(pd, j->ws_id) < 0 || !(w = registry_add(&pd->reg, j->ws_id, c->req->workspace))) {
		reply_err(&c->rc, WSE_INTERNAL, NULL, "cannot allocate a workspace id");
		return NULL;
	}
	w->owner_uid = st->st_uid;
	w->owner_gid = st->st_gid;
	w->phase = WS_INITIALIZING;
	w->busy = true;
	snprintf(w->origin_backend, sizeof(w->origin_backend), "%s", pd->be.backend_type);
	rfc3339_now(w->registered_at, sizeof(w->registered_at));
	if (state_save(pd) < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot record the workspace in state.json");
		registry_remove(&pd->reg, w);
		return NULL;
	}
	crash_point("init.intent");
	if (bt_create_subvol(pd->data_root_fd, j->ws_id, err, sizeof(err)) < 0) {
		reply_err(&c->rc, errno == ENOSPC ? WSE_DISK_SPACE : WSE_BTRFS, NULL, "%s", err);
		registry_remove(&pd->reg, w);
		state_save(pd);
		return NULL;
	}
	j->subvol_fd = open_beneath(pd->data_root_fd, j->ws_id, O_RDONLY | O_DIRECTORY);
	if (j->subvol_fd < 0 || fchown(j->subvol_fd, st->st_uid, st->st_gid) < 0 ||
	    fchmod(j->subvol_fd, 0700) < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot prepare subvolume %s: %s", j->ws_id, strerror(errno));
		abandon(pd, w);
		return NULL;
	}
	crash_point("init.subvol");
	return w;
}

static void reply_existing(struct privd *pd, const struct op_call *c, struct init_job *j,
			   struct workspace *w)
{
	if (w->phase != WS_READY || w->busy) {
		reply_err(&c->rc, WSE_WRITE_LOCK_CONFLICT, "Retry when the running operation has finished.",
			  "workspace %s is busy", w->ws_id);
		return;
	}
	if (j->then_checkpoint)
		op_checkpoint_after_init(pd, &c->rc, c->peer->uid, c->req, c->metadata, w);
	else
		reply_init(j, w, true);
}

static struct init_job *job_new(const struct op_call *c, bool then_checkpoint)
{
	struct init_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->parent_fd = j->dir_fd = j->subvol_fd = -1;
	j->rc = c->rc;
	j->then_checkpoint = then_checkpoint;
	j->req = *c->req;
	j->uid = c->peer->uid;
	if (c->metadata && !(j->metadata = strdup(c->metadata))) {
		free(j);
		return NULL;
	}
	return j;
}

void init_start(struct privd *pd, const struct op_call *c, bool then_checkpoint)
{
	struct init_job *j = job_new(c, then_checkpoint);
	struct workspace *w;
	struct stat st;
	char why[512];
	int keep[3], rc;

	if (!j) {
		reply_err(&c->rc, WSE_INTERNAL, NULL, "out of memory");
		return;
	}
	w = ws_find_visible(pd, c->peer, c->req->workspace);
	if (w) {
		reply_existing(pd, c, j, w);
		goto out;
	}
	if (ws_id_valid(c->req->workspace) || registry_by_path(&pd->reg, c->req->workspace)) {
		reply_err(&c->rc, ws_id_valid(c->req->workspace) ? WSE_WORKSPACE_NOT_FOUND : WSE_ALREADY_INITIALIZED,
			  NULL, "%s is %s", c->req->workspace,
			  ws_id_valid(c->req->workspace) ? "not a known workspace" : "already managed");
		goto out;
	}
	if (init_path_allowed(pd, c->req->workspace, why, sizeof(why)) < 0) {
		reply_err(&c->rc, WSE_INVALID_PATH, NULL, "%s", why);
		goto out;
	}
	if (open_target(pd, c, j, &st) < 0 || check_caller(pd, c, &st) < 0)
		goto out;
	j->dir_dev = st.st_dev;
	j->dir_ino = st.st_ino;
	w = prepare(pd, c, j, &st);
	if (!w)
		goto out;
	ws_link_target(pd, j->ws_id, j->link_target, sizeof(j->link_target));
	keep[0] = j->parent_fd;
	keep[1] = j->dir_fd;
	keep[2] = j->subvol_fd;
	rc = worker_spawn(pd, st.st_uid, st.st_gid, keep, 3, init_worker, j, init_done, j);
	if (rc < 0) {
		reply_err(&c->rc, WSE_INTERNAL, NULL, "cannot start init worker: %s", strerror(-rc));
		abandon(pd, w);
		goto out;
	}
	log_info("init of %s as %s started (owner uid %u)", w->path, w->ws_id, (unsigned)st.st_uid);
	crash_point("init.worker");
	return;
out:
	job_free(j);
}

void op_init(struct privd *pd, const struct op_call *c)
{
	init_start(pd, c, false);
}
