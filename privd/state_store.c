/*
 * state.json and index.json with the Rust ws-ckpt's field names, plus our own extra
 * fields (owner_uid, owner_gid, phase, head, parent, pending_delete, journal_seq,
 * rollback_intent). Every write of these files is tmp + fsync + rename + dir fsync; the
 * small changes between two such writes go to the index journal (privd/index_journal.c).
 */
#include "privd/state_store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/log.h"
#include "privd/index_journal.h"
#include "privd/rollback_intent.h"

#define INDEX_MAX_BYTES (256u * 1024u * 1024u)

static bool copy_str(const cJSON *obj, const char *key, char *dst, size_t dstsz, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v)) {
		if (!required && (!v || cJSON_IsNull(v))) {
			dst[0] = '\0';
			return true;
		}
		return false;
	}
	if (strlen(v->valuestring) >= dstsz)
		return false;
	strcpy(dst, v->valuestring);
	return true;
}

static int load_paths(struct privd *pd, const cJSON *paths)
{
	const cJSON *img, *sz;

	if (!cJSON_IsObject(paths))
		return -1;
	if (!copy_str(paths, "mount_path", pd->be.mount_path, sizeof(pd->be.mount_path), true) ||
	    !copy_str(paths, "data_root", pd->be.data_root, sizeof(pd->be.data_root), true) ||
	    !copy_str(paths, "snapshots_root", pd->be.snapshots_root, sizeof(pd->be.snapshots_root), true))
		return -1;
	img = cJSON_GetObjectItemCaseSensitive(paths, "loop_img");
	if (cJSON_IsObject(img)) {
		if (!copy_str(img, "img_path", pd->be.img_path, sizeof(pd->be.img_path), true) ||
		    !copy_str(img, "last_loop_device", pd->be.last_loop_device,
			      sizeof(pd->be.last_loop_device), false))
			return -1;
		sz = cJSON_GetObjectItemCaseSensitive(img, "img_size_bytes");
		/* In range before the cast: converting an out-of-range double is undefined. */
		if (cJSON_IsNumber(sz) && sz->valuedouble >= 0 && sz->valuedouble < 18446744073709551616.0)
			pd->be.img_size_bytes = (uint64_t)sz->valuedouble;
	}
	return 0;
}

/* A uid/gid field: a number in 0..UINT32_MAX, else 0 (root), as when it is absent. */
static uint32_t id_number(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 4294967295.0))
		return 0;
	return (uint32_t)v->valuedouble;
}

static int load_workspace(struct privd *pd, const cJSON *j)
{
	char ws_id[32], path[WS_PATH_MAX], phase[32] = ""; /* stays "" if absent or invalid */
	const cJSON *uid, *gid;
	struct workspace *w;

	if (!copy_str(j, "ws_id", ws_id, sizeof(ws_id), true) || !ws_id_valid(ws_id) ||
	    !copy_str(j, "workspace_path", path, sizeof(path), true) || path[0] != '/')
		return -1;
	if (registry_by_id(&pd->reg, ws_id))
		return -1;
	w = registry_add(&pd->reg, ws_id, path);
	if (!w)
		return -1;
	copy_str(j, "registered_at", w->registered_at, sizeof(w->registered_at), false);
	if (!copy_str(j, "origin_backend", w->origin_backend, sizeof(w->origin_backend), false) ||
	    w->origin_backend[0] == '\0')
		strcpy(w->origin_backend, pd->be.backend_type);
	uid = cJSON_GetObjectItemCaseSensitive(j, "owner_uid");
	gid = cJSON_GetObjectItemCaseSensitive(j, "owner_gid");
	/* A Rust-written state has no owner: root owns it until an admin says otherwise. */
	w->owner_uid = id_number(uid);
	w->owner_gid = id_number(gid);
	copy_str(j, "phase", phase, sizeof(phase), false);
	w->phase = ws_phase_parse(phase);
	return 0;
}

static int load_state_json(struct privd *pd, const cJSON *root)
{
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *be = cJSON_GetObjectItemCaseSensitive(root, "backend");
	const cJSON *wss = cJSON_GetObjectItemCaseSensitive(root, "workspaces");
	const cJSON *w;

	if (!cJSON_IsNumber(ver) || ver->valuedouble != 1 || !cJSON_IsObject(be))
		return -1;
	if (!copy_str(be, "backend_type", pd->be.backend_type, sizeof(pd->be.backend_type), true) ||
	    (strcmp(pd->be.backend_type, "BtrfsLoop") != 0 && strcmp(pd->be.backend_type, "BtrfsBase") != 0))
		return -1;
	copy_str(be, "selection_method", pd->be.selection_method, sizeof(pd->be.selection_method), false);
	copy_str(be, "selected_at", pd->be.selected_at, sizeof(pd->be.selected_at), false);
	if (load_paths(pd, cJSON_GetObjectItemCaseSensitive(root, "paths")) < 0)
		return -1;
	if (wss && !cJSON_IsArray(wss))
		return -1;
	cJSON_ArrayForEach(w, wss) {
		if (load_workspace(pd, w) < 0)
			return -1;
	}
	return 0;
}

int state_parse_text(struct privd *pd, const char *text, size_t len)
{
	/* As cJSON_Parse on the file's C string: the text ends at its first NUL. */
	cJSON *root = cJSON_ParseWithLength(text, strnlen(text, len));

	if (!root || load_state_json(pd, root) < 0) {
		cJSON_Delete(root);
		registry_free(&pd->reg);
		memset(&pd->be, 0, sizeof(pd->be));
		return -1;
	}
	cJSON_Delete(root);
	return 0;
}

int state_load(struct privd *pd, char *err, size_t errsz)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_file_at(pd->state_dir_fd, STATE_FILE, STATE_MAX_BYTES, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		snprintf(err, errsz, "cannot read %s/%s: %s", pd->cfg.state_dir, STATE_FILE, strerror(-rc));
		return -1;
	}
	rc = state_parse_text(pd, text, len);
	free(text);
	if (rc < 0) {
		snprintf(err, errsz, "%s/%s is not a valid version-1 state file", pd->cfg.state_dir,
			 STATE_FILE);
		return -2;
	}
	return 1;
}

static cJSON *paths_json(const struct privd *pd)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *img;

	cJSON_AddStringToObject(p, "backend", pd->be.backend_type);
	cJSON_AddStringToObject(p, "mount_path", pd->be.mount_path);
	cJSON_AddStringToObject(p, "data_root", pd->be.data_root);
	cJSON_AddStringToObject(p, "snapshots_root", pd->be.snapshots_root);
	if (pd->be.img_path[0]) {
		img = cJSON_AddObjectToObject(p, "loop_img");
		cJSON_AddStringToObject(img, "img_path", pd->be.img_path);
		cJSON_AddNumberToObject(img, "img_size_bytes", (double)pd->be.img_size_bytes);
		if (pd->be.last_loop_device[0])
			cJSON_AddStringToObject(img, "last_loop_device", pd->be.last_loop_device);
		else
			cJSON_AddNullToObject(img, "last_loop_device");
	}
	return p;
}

static int save_json(int dirfd, const char *name, cJSON *root)
{
	char *text = cJSON_Print(root);
	int rc;

	if (!text)
		return -ENOMEM;
	rc = atomic_write_at(dirfd, name, text, strlen(text), 0600);
	free(text);
	return rc;
}

int state_save(struct privd *pd)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *be, *wss;
	int rc;

	if (!root)
		return -ENOMEM;
	cJSON_AddNumberToObject(root, "version", 1);
	be = cJSON_AddObjectToObject(root, "backend");
	cJSON_AddStringToObject(be, "backend_type", pd->be.backend_type);
	cJSON_AddStringToObject(be, "selection_method", pd->be.selection_method);
	cJSON_AddStringToObject(be, "selected_at", pd->be.selected_at);
	cJSON_AddItemToObject(root, "paths", paths_json(pd));
	wss = cJSON_AddArrayToObject(root, "workspaces");
	for (size_t i = 0; i < pd->reg.n; i++) {
		const struct workspace *w = pd->reg.ws[i];
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "ws_id", w->ws_id);
		cJSON_AddStringToObject(j, "workspace_path", w->path);
		cJSON_AddStringToObject(j, "registered_at", w->registered_at);
		cJSON_AddStringToObject(j, "origin_backend", w->origin_backend);
		cJSON_AddNumberToObject(j, "owner_uid", (double)w->owner_uid);
		cJSON_AddNumberToObject(j, "owner_gid", (double)w->owner_gid);
		cJSON_AddStringToObject(j, "phase", ws_phase_name(w->phase));
		cJSON_AddItemToArray(wss, j);
	}
	rc = save_json(pd->state_dir_fd, STATE_FILE, root);
	cJSON_Delete(root);
	if (rc < 0)
		log_err("cannot write %s/%s: %s", pd->cfg.state_dir, STATE_FILE, strerror(-rc));
	return rc;
}

int index_record_load(struct workspace *w, const cJSON *s)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(s, "message");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(s, "metadata");
	const cJSON *pinned = cJSON_GetObjectItemCaseSensitive(s, "pinned");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(s, "created_at");
	const cJSON *missing = cJSON_GetObjectItemCaseSensitive(s, "missing");
	struct snapshot *sn;

	/* Duplicate keys are caught after loading (sorted), not here: a scan per entry
	 * made loading quadratic in the number of snapshots. */
	if (!snapshot_id_valid(s->string))
		return -1;
	if (!cJSON_IsString(created) || strlen(created->valuestring) >= RFC3339_MAX)
		return -1;
	sn = ws_snapshot_add(w, s->string);
	if (!sn)
		return -1;
	strcpy(sn->created_at, created->valuestring);
	if (!rfc3339_parse(sn->created_at, &sn->created_ts))
		return -1;
	sn->pinned = cJSON_IsTrue(pinned);
	{
		const cJSON *par = cJSON_GetObjectItemCaseSensitive(s, "parent");
		if (cJSON_IsString(par) && snapshot_id_valid(par->valuestring))
			snprintf(sn->parent, sizeof(sn->parent), "%s", par->valuestring);
	}
	sn->missing = cJSON_IsTrue(missing);
	if (cJSON_IsString(msg) && !(sn->message = strdup(msg->valuestring)))
		return -1;
	if (meta && !cJSON_IsNull(meta) && !(sn->metadata = cJSON_PrintUnformatted(meta)))
		return -1;
	return 0;
}


void index_creating_load(struct workspace *w, const cJSON *v)
{
	/* Absent or not a snapshot id we could have written: no checkpoint in flight. */
	if (cJSON_IsString(v) && snapshot_id_valid(v->valuestring))
		snprintf(w->creating, sizeof(w->creating), "%s", v->valuestring);
	else
		w->creating[0] = '\0';
}

int index_pending_load(struct workspace *w, const cJSON *arr)
{
	const cJSON *s;

	w->npending = 0;
	cJSON_ArrayForEach(s, arr) {
		/* Temporary diff snapshots are ".diff-..." (never a user id); others are ids. */
		if (cJSON_IsString(s) && strlen(s->valuestring) <= SNAPSHOT_ID_MAX &&
		    (snapshot_id_valid(s->valuestring) ||
		     (s->valuestring[0] == '.' && snapshot_id_valid(s->valuestring + 1))) &&
		    ws_pending_add(w, s->valuestring) < 0)
			return -ENOMEM;
	}
	return 0;
}

unsigned long long journal_seq_value(const cJSON *v)
{
	/* Exact in a double up to 2^53; anything else is not a sequence number we wrote. */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
	    v->valuedouble != (double)(unsigned long long)v->valuedouble)
		return 0;
	return (unsigned long long)v->valuedouble;
}

int index_parse_text(struct workspace *w, const char *text, size_t len, char *err, size_t errsz)
{
	/* As cJSON_Parse on the file's C string: the text ends at its first NUL. */
	cJSON *root = cJSON_ParseWithLength(text, strnlen(text, len));
	cJSON *snaps, *s;

	snaps = cJSON_GetObjectItemCaseSensitive(root, "snapshots");
	if (!cJSON_IsObject(root) || (snaps && !cJSON_IsObject(snaps))) {
		snprintf(err, errsz, "index of %s is not valid JSON of the expected shape", w->ws_id);
		cJSON_Delete(root);
		return -EINVAL;
	}
	cJSON_ArrayForEach(s, snaps) {
		if (index_record_load(w, s) < 0) {
			snprintf(err, errsz, "index of %s: invalid snapshot entry '%.64s'", w->ws_id,
				 s->string ? s->string : "");
			cJSON_Delete(root);
			return -EINVAL;
		}
	}
	s = cJSON_GetObjectItemCaseSensitive(root, "journal_seq");
	w->journal_seq = journal_seq_value(s);
	s = cJSON_GetObjectItemCaseSensitive(root, "head");
	if (cJSON_IsString(s) && snapshot_id_valid(s->valuestring))
		snprintf(w->head, sizeof(w->head), "%s", s->valuestring);
	/* Not written by us if invalid: ignored, so leftovers are kept, never deleted. */
	if (rollback_intent_load(&w->rb, cJSON_GetObjectItemCaseSensitive(root, "rollback_intent")) < 0)
		memset(&w->rb, 0, sizeof(w->rb));
	index_creating_load(w, cJSON_GetObjectItemCaseSensitive(root, "creating"));
	if (index_pending_load(w, cJSON_GetObjectItemCaseSensitive(root, "pending_delete")) < 0) {
		snprintf(err, errsz, "index of %s: out of memory", w->ws_id);
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_Delete(root);
	if (ws_has_duplicate_ids(w)) {
		snprintf(err, errsz, "index of %s: a snapshot id appears twice", w->ws_id);
		return -EINVAL;
	}
	/* Keep creation order: the file is a map with no order of its own. */
	ws_sort_snapshots(w);
	return 0;
}

int index_load(struct privd *pd, struct workspace *w, char *err, size_t errsz)
{
	char rel[64];
	char *text = NULL;
	size_t len = 0;
	int rc;

	snprintf(rel, sizeof(rel), "%s/index.json", w->ws_id);
	rc = read_file_at(pd->indexes_fd, rel, INDEX_MAX_BYTES, &text, &len);
	if (rc < 0) {
		snprintf(err, errsz, "cannot read index of %s: %s", w->ws_id, strerror(-rc));
		return rc;
	}
	rc = index_parse_text(w, text, len, err, errsz);
	free(text);
	if (rc < 0)
		return rc;
	w->index_on_disk = true;
	w->index_bytes = len;
	return index_journal_replay(pd, w, err, errsz);
}

cJSON *index_record_json(const struct snapshot *s)
{
	cJSON *j = cJSON_CreateObject();
	bool ok = j != NULL;

	if (ok && s->message)
		ok = cJSON_AddStringToObject(j, "message", s->message) != NULL;
	else if (ok)
		ok = cJSON_AddNullToObject(j, "message") != NULL;
	if (ok && s->metadata)
		ok = cJSON_AddItemToObject(j, "metadata", cJSON_CreateRaw(s->metadata));
	else if (ok)
		ok = cJSON_AddNullToObject(j, "metadata") != NULL;
	ok = ok && cJSON_AddBoolToObject(j, "pinned", s->pinned) &&
	     cJSON_AddStringToObject(j, "created_at", s->created_at) &&
	     cJSON_AddBoolToObject(j, "missing", s->missing);
	if (ok && s->parent[0])
		ok = cJSON_AddStringToObject(j, "parent", s->parent) != NULL;
	if (!ok) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* The whole index as JSON (NULL when out of memory: nothing partial is ever written). */
static cJSON *index_json(const struct workspace *w)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *snaps = root ? cJSON_AddObjectToObject(root, "snapshots") : NULL;
	bool ok = snaps && cJSON_AddStringToObject(root, "workspace_path", w->path) &&
		  cJSON_AddNumberToObject(root, "journal_seq", (double)w->journal_seq);

	if (ok && w->head[0])
		ok = cJSON_AddStringToObject(root, "head", w->head) != NULL;
	if (ok && w->rb.active)
		ok = cJSON_AddItemToObject(root, "rollback_intent", rollback_intent_json(&w->rb));
	if (ok && w->creating[0])
		ok = cJSON_AddStringToObject(root, "creating", w->creating) != NULL;
	for (size_t i = 0; ok && i < w->nsnaps; i++) {
		cJSON *j = index_record_json(&w->snaps[i]);

		ok = j && cJSON_AddItemToObject(snaps, w->snaps[i].id, j);
		if (!ok)
			cJSON_Delete(j);
	}
	if (ok && w->npending) {
		cJSON *pend = cJSON_AddArrayToObject(root, "pending_delete");

		ok = pend != NULL;
		for (size_t i = 0; ok && i < w->npending; i++)
			ok = cJSON_AddItemToArray(pend, cJSON_CreateString(w->pending[i]));
	}
	if (!ok) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int index_dir_open(struct privd *pd, const char *ws_id)
{
	int fd;

	if (mkdirat(pd->indexes_fd, ws_id, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(pd->indexes_fd, ws_id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int index_write_full(struct privd *pd, struct workspace *w, int dirfd)
{
	cJSON *root = index_json(w);
	char *text = root ? cJSON_Print(root) : NULL;
	size_t len = text ? strlen(text) : 0;
	int rc = text ? atomic_write_at(dirfd, "index.json", text, len, 0600) : -ENOMEM;

	if (rc == 0)
		w->index_bytes = len;
	else
		log_err("cannot write index of %s: %s", w->ws_id, strerror(-rc));
	free(text);
	cJSON_Delete(root);
	return rc;
}
