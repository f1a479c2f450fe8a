/*
 * When state.json is absent or unreadable, the per-workspace indexes and the subvolumes
 * still say everything that matters: which workspaces exist, where their paths are, who
 * owns them (the owner of the live subvolume) and which snapshots they have.
 */
#include "privd/migrate.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/log.h"
#include "privd/fsutil.h"
#include "privd/state_store.h"

#define INDEX_MAX (256u * 1024u * 1024u)

static int move_index(struct privd *pd, int bucket, const char *ws_id)
{
	char *text = NULL;
	size_t len;
	int dirfd, rc;

	rc = read_file_at(bucket, "index.json", INDEX_MAX, &text, &len);
	if (rc < 0)
		return rc;
	if (mkdirat(pd->indexes_fd, ws_id, 0700) < 0 && errno != EEXIST) {
		free(text);
		return -errno;
	}
	dirfd = openat(pd->indexes_fd, ws_id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		free(text);
		return -errno;
	}
	/* Copy durably first, then remove the old one: a crash leaves two copies, never none. */
	rc = atomic_write_at(dirfd, "index.json", text, len, 0600);
	close(dirfd);
	free(text);
	if (rc == 0 && unlinkat(bucket, "index.json", 0) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(bucket);
	return rc;
}

int migrate_v0_indexes(struct privd *pd)
{
	int fd = openat(pd->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int moved = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		int bucket, rc;

		if (!ws_id_valid(de->d_name))
			continue;
		bucket = open_beneath(pd->snapshots_fd, de->d_name, O_RDONLY | O_DIRECTORY);
		if (bucket < 0)
			continue;
		if (faccessat(bucket, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			if (moved == 0)
				log_info("Migrating from v0 layout (indexes in %s)", pd->be.snapshots_root);
			rc = move_index(pd, bucket, de->d_name);
			if (rc < 0)
				log_err("cannot migrate index of %s: %s", de->d_name, strerror(-rc));
			else
				moved++;
		}
		close(bucket);
	}
	closedir(d);
	return moved;
}

static int index_workspace_path(struct privd *pd, const char *ws_id, char *path, size_t sz)
{
	char rel[64], *text = NULL;
	const cJSON *p;
	cJSON *root;
	int rc = -EINVAL;

	snprintf(rel, sizeof(rel), "%s/index.json", ws_id);
	if (read_file_at(pd->indexes_fd, rel, INDEX_MAX, &text, NULL) < 0)
		return -ENOENT;
	root = cJSON_Parse(text);
	free(text);
	p = cJSON_GetObjectItemCaseSensitive(root, "workspace_path");
	if (cJSON_IsString(p) && p->valuestring[0] == '/' && strlen(p->valuestring) < sz) {
		strcpy(path, p->valuestring);
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

static int register_one(struct privd *pd, const char *ws_id)
{
	char path[WS_PATH_MAX];
	struct workspace *w;
	struct stat st;

	if (registry_by_id(&pd->reg, ws_id))
		return 0;
	if (index_workspace_path(pd, ws_id, path, sizeof(path)) < 0) {
		log_err("indexes/%s/index.json has no usable workspace_path; left alone", ws_id);
		return 0;
	}
	if (fstatat(pd->data_root_fd, ws_id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("workspace %s (%s) has an index but no live subvolume; left unregistered", ws_id, path);
		return 0;
	}
	w = registry_add(&pd->reg, ws_id, path);
	if (!w)
		return -ENOMEM;
	w->owner_uid = st.st_uid;
	w->owner_gid = st.st_gid;
	snprintf(w->origin_backend, sizeof(w->origin_backend), "%s", pd->be.backend_type);
	rfc3339_now(w->registered_at, sizeof(w->registered_at));
	log_info("Rebuilt workspace %s (%s, owner uid %u) from its index", ws_id, path, (unsigned)st.st_uid);
	return 1;
}

int registry_rebuild_from_indexes(struct privd *pd)
{
	int fd = openat(pd->indexes_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (ws_id_valid(de->d_name) && register_one(pd, de->d_name) > 0)
			n++;
	}
	closedir(d);
	return n;
}

int state_set_aside(struct privd *pd, char *aside, size_t asidesz)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(aside, asidesz, "%s.corrupt-%04d%02d%02dT%02d%02d%02dZ", STATE_FILE,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (renameat(pd->state_dir_fd, STATE_FILE, pd->state_dir_fd, aside) < 0)
		return -errno;
	return fsync_dir(pd->state_dir_fd);
}
