/*
 * Index journal. Rewriting index.json on every checkpoint made a checkpoint cost grow with
 * the history (1.9 MB of JSON at 10,000 snapshots); instead each save appends one line
 *
 *   {"seq":N,"head":"<id>","rollback_intent":{..}|null,"pending_delete":[...],
 *    "del":[ids],"put":{"<id>":{record}}[,"creating":"<id>"]}
 *
 * (the records removed and the records added or changed since the previous save, plus the
 * small per-workspace fields) and fdatasyncs it. index.json records the seq of the last
 * line it already includes ("journal_seq"), so after a crash between rewriting index.json
 * and removing the journal, replay skips what is already there. A line cut short by a
 * crash has no newline or does not parse: it was never acknowledged and is dropped.
 */
#include "privd/index_journal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/crashpoint.h"
#include "common/log.h"
#include "privd/rollback_intent.h"
#include "privd/state_store.h"

/* A replayed journal is at most this large (the compaction rule keeps it near index.json). */
#define JOURNAL_MAX_BYTES ((size_t)512 * 1024 * 1024)

static bool add_str_items(cJSON *arr, const char (*ids)[SNAPSHOT_ID_MAX + 1], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i])))
			return false;
	}
	return true;
}

static bool add_dirty_records(cJSON *put, const struct workspace *w)
{
	for (size_t i = 0; i < w->nsnaps; i++) {
		cJSON *j;

		if (!w->snaps[i].dirty)
			continue;
		j = index_record_json(&w->snaps[i]);
		if (!j || !cJSON_AddItemToObject(put, w->snaps[i].id, j)) {
			cJSON_Delete(j);
			return false;
		}
	}
	return true;
}

/* The journal line of w's changes, newline-terminated; NULL when out of memory. */
static char *journal_line(const struct workspace *w, unsigned long long seq, size_t *len)
{
	cJSON *root = cJSON_CreateObject(), *pend = NULL, *del = NULL, *put = NULL;
	char *text = NULL, *line;
	bool ok = root && cJSON_AddNumberToObject(root, "seq", (double)seq) &&
		  cJSON_AddStringToObject(root, "head", w->head) &&
		  cJSON_AddItemToObject(root, "rollback_intent", rollback_intent_json(&w->rb)) &&
		  (pend = cJSON_AddArrayToObject(root, "pending_delete")) &&
		  (del = cJSON_AddArrayToObject(root, "del")) &&
		  (put = cJSON_AddObjectToObject(root, "put"));

	if (ok && w->creating[0])
		ok = cJSON_AddStringToObject(root, "creating", w->creating) != NULL;
	ok = ok && add_str_items(pend, (const char (*)[SNAPSHOT_ID_MAX + 1])w->pending, w->npending) &&
	     add_str_items(del, (const char (*)[SNAPSHOT_ID_MAX + 1])w->removed, w->nremoved) &&
	     add_dirty_records(put, w);
	if (ok)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	*len = strlen(text);
	/* One record per line: an unescaped newline would split it (never expected). */
	if (memchr(text, '\n', *len) || !(line = realloc(text, *len + 2))) {
		free(text);
		return NULL;
	}
	line[(*len)++] = '\n';
	line[*len] = '\0';
	return line;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Open the journal and append one line. The fd, or -errno (a partial line is cut). */
static int journal_write(struct privd *pd, struct workspace *w, const char *line, size_t len)
{
	char rel[WS_ID_LEN + sizeof("/" INDEX_JOURNAL_FILE)];
	int fd, rc;

	snprintf(rel, sizeof(rel), "%s/%s", w->ws_id, INDEX_JOURNAL_FILE);
	fd = openat(pd->indexes_fd, rel, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, line, len);
	if (rc == 0)
		return fd;
	if (ftruncate(fd, (off_t)w->journal_bytes) < 0)
		log_warn("index journal of %s: cannot cut a failed record: %s", w->ws_id, strerror(errno));
	close(fd);
	return rc;
}

/* The appended line's data sync returned rc: cut the line if it failed, so the file stays
 * well-formed (the caller also compacts next); the first line also makes the file's name
 * durable. Closes fd. 0 or -errno. */
static int journal_synced(struct privd *pd, struct workspace *w, int fd, int rc)
{
	if (rc < 0 && ftruncate(fd, (off_t)w->journal_bytes) < 0)
		log_warn("index journal of %s: cannot cut a failed record: %s", w->ws_id, strerror(errno));
	close(fd);
	if (rc == 0 && w->journal_bytes == 0) {
		int dirfd = index_dir_open(pd, w->ws_id);

		rc = dirfd < 0 ? dirfd : fsync_dir(dirfd);
		if (dirfd >= 0)
			close(dirfd);
	}
	return rc;
}

/* Append and fdatasync one line. 0 or -errno. */
static int journal_append(struct privd *pd, struct workspace *w, const char *line, size_t len)
{
	int fd = journal_write(pd, w, line, len);

	if (fd < 0)
		return fd;
	return journal_synced(pd, w, fd, fdatasync(fd) < 0 ? -errno : 0);
}

/* The save of a line of len bytes ended with rc: account for it. rc. */
static int journal_saved(struct workspace *w, int rc, size_t len)
{
	if (rc < 0) {
		log_err("cannot append to the index journal of %s: %s", w->ws_id, strerror(-rc));
		w->journal_broken = true;
		return rc;
	}
	w->journal_seq++;
	w->journal_bytes += len;
	ws_changes_clear(w);
	return 0;
}

static bool compaction_due(const struct workspace *w, size_t add)
{
	size_t limit = w->index_bytes > INDEX_JOURNAL_MIN_COMPACT ? w->index_bytes
								  : INDEX_JOURNAL_MIN_COMPACT;

	return !w->index_on_disk || w->journal_broken || w->journal_bytes + add > limit;
}

int index_compact(struct privd *pd, struct workspace *w)
{
	int dirfd = index_dir_open(pd, w->ws_id), rc;

	if (dirfd < 0)
		return dirfd;
	w->journal_seq++;
	rc = index_write_full(pd, w, dirfd);
	if (rc < 0) {
		/* The seq stays used: index.json may have been replaced before the failure (a
		 * directory fsync), and it says it holds that seq, so a journal line with it
		 * would be skipped at replay. The next save compacts again. */
		w->journal_broken = true;
		close(dirfd);
		return rc;
	}
	w->index_on_disk = true;
	ws_changes_clear(w);
	crash_point("index.compacted");
	if (w->journal_bytes > 0 || w->journal_broken) {
		/* index.json already holds every line (journal_seq), so replay would skip them:
		 * a failure here only means compacting again next time. */
		if ((unlinkat(dirfd, INDEX_JOURNAL_FILE, 0) < 0 && errno != ENOENT) ||
		    fsync_dir(dirfd) < 0) {
			log_warn("index journal of %s: cannot remove it: %s", w->ws_id, strerror(errno));
			close(dirfd);
			w->journal_broken = true;
			return 0;
		}
	}
	close(dirfd);
	w->journal_bytes = 0;
	w->journal_broken = false;
	return 0;
}

int index_save(struct privd *pd, struct workspace *w)
{
	char *line = NULL;
	size_t len = 0;
	int rc;

	if (!compaction_due(w, 0))
		line = journal_line(w, w->journal_seq + 1, &len);
	if (!line || compaction_due(w, len)) {
		free(line);
		return index_compact(pd, w);
	}
	rc = journal_append(pd, w, line, len);
	free(line);
	return journal_saved(w, rc, len);
}

int index_save_begin(struct privd *pd, struct workspace *w, struct index_save_async *s)
{
	char *line = NULL;
	size_t len = 0;
	int fd;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	/* A compaction goes the ordinary way; so does everything when native AIO is not
	 * available. (The journal's first line also syncs the directory, in end.) */
	if (!pd->aio.ready || w->journal_broken || compaction_due(w, 0))
		return 1;
	line = journal_line(w, w->journal_seq + 1, &len);
	if (!line || compaction_due(w, len)) {
		free(line);
		return 1;
	}
	fd = journal_write(pd, w, line, len);
	free(line);
	if (fd < 0)
		return 1; /* index_save tries again, and compacts if it fails too */
	s->fd = fd;
	s->len = len;
	s->async = aio_sync_start(&pd->aio, fd) == 0;
	if (!s->async)
		s->sync_rc = fdatasync(fd) < 0 ? -errno : 0;
	return 0;
}

int index_save_end(struct privd *pd, struct workspace *w, struct index_save_async *s)
{
	int rc = s->async ? aio_sync_wait(&pd->aio) : s->sync_rc;

	rc = journal_synced(pd, w, s->fd, rc);
	s->fd = -1;
	return journal_saved(w, rc, s->len);
}

void index_compact_all(struct privd *pd)
{
	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];

		if (w->index_on_disk && (w->journal_bytes > 0 || w->journal_broken))
			index_compact(pd, w);
	}
}

/* ------------------------------------------------------------------ replay */

static void apply_del(struct workspace *w, const cJSON *del)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, del) {
		struct snapshot *s = cJSON_IsString(d) ? ws_snapshot_find(w, d->valuestring) : NULL;

		if (s)
			ws_snapshot_remove(w, s);
	}
}

/* 0, -1 for an invalid record, -ENOMEM. */
static int apply_put(struct workspace *w, const cJSON *put)
{
	const cJSON *rec;

	cJSON_ArrayForEach(rec, put) {
		struct snapshot *old = ws_snapshot_find(w, rec->string);

		if (old)
			ws_snapshot_remove(w, old);
		if (index_record_load(w, rec) < 0) {
			/* index_record_load may have added a half-filled entry: drop it. */
			struct snapshot *half = ws_snapshot_find(w, rec->string);

			if (half)
				ws_snapshot_remove(w, half);
			return -1;
		}
	}
	return 0;
}

/* Check a line's shape before changing anything, so a bad line leaves w as it was. */
static bool line_valid(const cJSON *j, unsigned long long after)
{
	const cJSON *head = cJSON_GetObjectItemCaseSensitive(j, "head");
	const cJSON *put = cJSON_GetObjectItemCaseSensitive(j, "put");
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(j, "del");
	const cJSON *pend = cJSON_GetObjectItemCaseSensitive(j, "pending_delete");
	const cJSON *creating = cJSON_GetObjectItemCaseSensitive(j, "creating");
	const cJSON *rec;
	struct rollback_intent rb;

	if (!cJSON_IsObject(j) || journal_seq_value(cJSON_GetObjectItemCaseSensitive(j, "seq")) <= after ||
	    !cJSON_IsString(head) || (head->valuestring[0] && !snapshot_id_valid(head->valuestring)) ||
	    !cJSON_IsObject(put) || !cJSON_IsArray(del) || !cJSON_IsArray(pend) ||
	    (creating && !(cJSON_IsString(creating) && snapshot_id_valid(creating->valuestring))) ||
	    rollback_intent_load(&rb, cJSON_GetObjectItemCaseSensitive(j, "rollback_intent")) < 0)
		return false;
	cJSON_ArrayForEach(rec, put) {
		if (!cJSON_IsObject(rec) || !rec->string || !snapshot_id_valid(rec->string))
			return false;
	}
	return true;
}

/* Apply one parsed line. 1 applied, 0 already in index.json, -1 invalid, -ENOMEM. */
static int apply_line(struct workspace *w, const cJSON *j)
{
	unsigned long long seq = journal_seq_value(cJSON_GetObjectItemCaseSensitive(j, "seq"));
	int rc;

	if (cJSON_IsObject(j) && seq > 0 && seq <= w->journal_seq)
		return 0;
	if (!line_valid(j, w->journal_seq))
		return -1;
	apply_del(w, cJSON_GetObjectItemCaseSensitive(j, "del"));
	rc = apply_put(w, cJSON_GetObjectItemCaseSensitive(j, "put"));
	if (rc < 0)
		return rc;
	if (index_pending_load(w, cJSON_GetObjectItemCaseSensitive(j, "pending_delete")) < 0)
		return -ENOMEM;
	snprintf(w->head, sizeof(w->head), "%s",
		 cJSON_GetObjectItemCaseSensitive(j, "head")->valuestring);
	/* Checked by line_valid; a line from before the field existed has no intent. */
	(void)rollback_intent_load(&w->rb, cJSON_GetObjectItemCaseSensitive(j, "rollback_intent"));
	index_creating_load(w, cJSON_GetObjectItemCaseSensitive(j, "creating"));
	w->journal_seq = seq;
	return 1;
}

long index_journal_apply_text(struct workspace *w, const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : 0;
		cJSON *j;
		int rc;

		if (!nl || memchr(text + off, '\0', n))
			break;
		j = cJSON_ParseWithLength(text + off, n);
		rc = j ? apply_line(w, j) : -1;
		cJSON_Delete(j);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			break;
		off += n + 1;
	}
	ws_sort_snapshots(w);
	return (long)off;
}

int index_journal_replay(struct privd *pd, struct workspace *w, char *err, size_t errsz)
{
	char rel[WS_ID_LEN + sizeof("/" INDEX_JOURNAL_FILE)];
	char *text = NULL;
	size_t len = 0;
	long used;
	int rc;

	snprintf(rel, sizeof(rel), "%s/%s", w->ws_id, INDEX_JOURNAL_FILE);
	rc = read_file_at(pd->indexes_fd, rel, JOURNAL_MAX_BYTES, &text, &len);
	if (rc == -ENOENT) {
		ws_changes_clear(w);
		return 0;
	}
	if (rc < 0) {
		snprintf(err, errsz, "cannot read the index journal of %s: %s", w->ws_id, strerror(-rc));
		return rc;
	}
	used = index_journal_apply_text(w, text, len);
	free(text);
	if (used < 0) {
		snprintf(err, errsz, "index journal of %s: out of memory", w->ws_id);
		return (int)used;
	}
	if ((size_t)used < len)
		log_warn("index journal of %s: dropped %zu byte(s) after the last complete record (a save cut short by a crash)",
			 w->ws_id, len - (size_t)used);
	/* Start from a clean file: fold what was replayed into index.json now. */
	w->journal_bytes = len;
	w->journal_broken = true;
	/* On failure w is still right in memory and the journal still on disk: the next
	 * save tries again (journal_broken). */
	rc = index_compact(pd, w);
	if (rc < 0)
		log_err("cannot fold the index journal of %s into index.json: %s", w->ws_id,
			strerror(-rc));
	return 0;
}
