/*
 * Unit tests for privd/index_journal.c on real files in a temp directory: saves append
 * small records, a reload sees exactly what was saved, compaction folds the journal into
 * index.json, and what a crash can leave behind (a torn last line, index.json rewritten
 * but the journal not yet removed) loads as the last acknowledged state.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic_file.h"
#include "privd/index_journal.h"
#include "privd/state_store.h"

#define WSID "ws-0a1b2c"

struct fx {
	char dir[64];
	struct privd pd;
	struct workspace *w;
};

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/wsck-ut-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->pd.indexes_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->pd.indexes_fd >= 0);
	f->w = registry_add(&f->pd.reg, WSID, "/home/u/project");
	assert_non_null(f->w);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	registry_free(&f->pd.reg);
	close(f->pd.indexes_fd);
	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct snapshot *add_snap(struct workspace *w, const char *id, int sec, const char *msg)
{
	struct snapshot *s = ws_snapshot_add(w, id);

	assert_non_null(s);
	snprintf(s->created_at, sizeof(s->created_at), "2026-11-26T10:00:%02d.000000000Z", sec);
	assert_true(rfc3339_parse(s->created_at, &s->created_ts));
	snprintf(s->parent, sizeof(s->parent), "%s", w->head);
	if (msg)
		s->message = strdup(msg);
	snprintf(w->head, sizeof(w->head), "%s", id);
	return s;
}

static off_t file_size(struct fx *f, const char *name)
{
	char p[160];
	struct stat st;

	snprintf(p, sizeof(p), "%s/" WSID "/%s", f->dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* A second registry loading the same files, as a restarted privd would. */
static struct workspace *reload(struct fx *f, struct registry *reg)
{
	struct privd pd2 = { 0 };
	struct workspace *w2;
	char err[256] = "";

	pd2.indexes_fd = f->pd.indexes_fd;
	w2 = registry_add(reg, WSID, "/home/u/project");
	assert_non_null(w2);
	assert_int_equal(index_load(&pd2, w2, err, sizeof(err)), 0);
	return w2;
}

static void assert_same(const struct workspace *a, const struct workspace *b)
{
	assert_int_equal(a->nsnaps, b->nsnaps);
	assert_string_equal(a->head, b->head);
	assert_int_equal(a->npending, b->npending);
	for (size_t i = 0; i < a->npending; i++)
		assert_string_equal(a->pending[i], b->pending[i]);
	for (size_t i = 0; i < a->nsnaps; i++) {
		const struct snapshot *x = &a->snaps[i], *y = &b->snaps[i];

		assert_string_equal(x->id, y->id);
		assert_string_equal(x->created_at, y->created_at);
		assert_string_equal(x->parent, y->parent);
		assert_int_equal(x->pinned, y->pinned);
		assert_int_equal(x->missing, y->missing);
		assert_true((x->message == NULL) == (y->message == NULL));
		if (x->message)
			assert_string_equal(x->message, y->message);
		assert_true((x->metadata == NULL) == (y->metadata == NULL));
		if (x->metadata)
			assert_string_equal(x->metadata, y->metadata);
	}
}

/* The first save writes index.json; later ones only append one line each. */
static void test_saves_append_and_reload(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };
	struct snapshot *s;
	off_t idx;

	add_snap(f->w, "s1", 1, "first");
	assert_int_equal(index_save(&f->pd, f->w), 0);
	idx = file_size(f, "index.json");
	assert_true(idx > 0);
	assert_int_equal(file_size(f, INDEX_JOURNAL_FILE), -1);

	add_snap(f->w, "s2", 2, "second");
	assert_int_equal(index_save(&f->pd, f->w), 0);
	s = add_snap(f->w, "s3", 3, NULL);
	s->metadata = strdup("{\"k\":[1,2]}");
	assert_int_equal(index_save(&f->pd, f->w), 0);
	s = ws_snapshot_find(f->w, "s1");
	s->pinned = true;
	ws_snapshot_touch(s);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	/* delete s2: its child is reparented, head unchanged, an intent kept */
	assert_int_equal(ws_pending_add(f->w, "s2"), 0);
	ws_snapshot_remove(f->w, ws_snapshot_find(f->w, "s2"));
	s = ws_snapshot_find(f->w, "s3");
	snprintf(s->parent, sizeof(s->parent), "s1");
	ws_snapshot_touch(s);
	assert_int_equal(index_save(&f->pd, f->w), 0);

	assert_int_equal(file_size(f, "index.json"), idx); /* not rewritten */
	assert_true(file_size(f, INDEX_JOURNAL_FILE) > 0);
	assert_int_equal(f->w->journal_seq, 5);

	assert_same(f->w, reload(f, &reg));
	/* loading folded the journal into index.json */
	assert_int_equal(file_size(f, INDEX_JOURNAL_FILE), -1);
	assert_true(file_size(f, "index.json") > idx);
	registry_free(&reg);
	assert_same(f->w, reload(f, &reg));
	registry_free(&reg);
}

/* A line cut short by a crash is dropped; the complete ones before it are kept. */
static void test_torn_tail_dropped(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };
	struct workspace *w2;
	char p[160];
	int fd;

	add_snap(f->w, "a", 1, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	add_snap(f->w, "b", 2, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	snprintf(p, sizeof(p), "%s/" WSID "/" INDEX_JOURNAL_FILE, f->dir);
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"seq\":4,\"head\":\"c\",\"pend", 25), 25);
	close(fd);

	w2 = reload(f, &reg);
	assert_same(f->w, w2);
	assert_int_equal(file_size(f, INDEX_JOURNAL_FILE), -1);
	registry_free(&reg);
}

/*
 * Crash after a compaction rewrote index.json but before it removed the journal: the
 * journal's lines are older than index.json (journal_seq) and must not be applied again
 * (here: replaying them would bring back a deleted snapshot).
 */
static void test_compacted_index_wins_over_old_journal(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };
	char src[160], keep[160];

	add_snap(f->w, "x", 1, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	add_snap(f->w, "y", 2, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0); /* journal: put y */
	snprintf(src, sizeof(src), "%s/" WSID "/" INDEX_JOURNAL_FILE, f->dir);
	snprintf(keep, sizeof(keep), "%s/journal.saved", f->dir);
	assert_int_equal(link(src, keep), 0);

	ws_snapshot_remove(f->w, ws_snapshot_find(f->w, "y"));
	snprintf(f->w->head, sizeof(f->w->head), "x");
	assert_int_equal(index_compact(&f->pd, f->w), 0);
	assert_int_equal(file_size(f, INDEX_JOURNAL_FILE), -1);
	assert_int_equal(rename(keep, src), 0); /* as if the unlink never happened */

	assert_same(f->w, reload(f, &reg));
	assert_null(ws_snapshot_find(reg.ws[0], "y"));
	registry_free(&reg);
}

/* The journal is folded into index.json once it outgrows the threshold. */
static void test_compaction_threshold(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };
	char id[32], msg[600];
	int compactions = 0;
	off_t last = 0, now;

	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	for (int i = 0; i < 1200; i++) {
		snprintf(id, sizeof(id), "c%04d", i);
		add_snap(f->w, id, i % 60, msg);
		assert_int_equal(index_save(&f->pd, f->w), 0);
		now = file_size(f, INDEX_JOURNAL_FILE);
		assert_true(now <= (off_t)INDEX_JOURNAL_MIN_COMPACT ||
			    now <= (off_t)f->w->index_bytes);
		if (now < last)
			compactions++;
		last = now;
	}
	assert_true(compactions >= 1);
	ws_sort_snapshots(f->w);
	assert_same(f->w, reload(f, &reg));
	registry_free(&reg);
}

/* Lines are checked whole: one with a bad record changes nothing and ends the replay. */
static void test_invalid_line_stops_replay(void **state)
{
	struct fx *f = *state;
	const char *text =
		"{\"seq\":1,\"head\":\"a\",\"pending_delete\":[],\"del\":[],\"put\":{\"a\":{\"created_at\":\"2026-11-26T10:00:01Z\",\"pinned\":true}}}\n"
		"{\"seq\":2,\"head\":\"b\",\"pending_delete\":[],\"del\":[\"a\"],\"put\":{\"../b\":{\"created_at\":\"2026-11-26T10:00:02Z\"}}}\n"
		"{\"seq\":3,\"head\":\"c\",\"pending_delete\":[],\"del\":[],\"put\":{\"c\":{\"created_at\":\"2026-11-26T10:00:03Z\"}}}\n";
	long used = index_journal_apply_text(f->w, text, strlen(text));

	assert_int_equal(used, (long)(strchr(text, '\n') - text + 1));
	assert_int_equal(f->w->nsnaps, 1);
	assert_string_equal(f->w->snaps[0].id, "a");
	assert_true(f->w->snaps[0].pinned);
	assert_string_equal(f->w->head, "a");
	assert_int_equal(f->w->journal_seq, 1);
}

static void set_intent(struct workspace *w, const char *target, const char *keep,
		       unsigned long long tmp, unsigned long long live)
{
	memset(&w->rb, 0, sizeof(w->rb));
	w->rb.active = true;
	snprintf(w->rb.target, sizeof(w->rb.target), "%s", target);
	snprintf(w->rb.keep_as, sizeof(w->rb.keep_as), "%s", keep);
	w->rb.tmp_subvol = tmp;
	w->rb.live_subvol = live;
}

static void assert_intent(const struct workspace *w, const char *target, const char *keep,
			  unsigned long long tmp, unsigned long long live)
{
	assert_true(w->rb.active);
	assert_string_equal(w->rb.target, target);
	assert_string_equal(w->rb.keep_as, keep);
	assert_true(w->rb.tmp_subvol == tmp);
	assert_true(w->rb.live_subvol == live);
}

/* A rollback's intent is saved and cleared through the journal, and survives compaction. */
static void test_rollback_intent_round_trip(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };

	add_snap(f->w, "a", 1, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0); /* the first save writes index.json */
	set_intent(f->w, "a", "auto-1", 300, 299);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	assert_true(file_size(f, INDEX_JOURNAL_FILE) > 0);
	assert_intent(reload(f, &reg), "a", "auto-1", 300, 299);
	registry_free(&reg);

	set_intent(f->w, "a", "", (1ULL << 40) + 1, 1ULL << 40);
	assert_int_equal(index_compact(&f->pd, f->w), 0);
	assert_int_equal(file_size(f, INDEX_JOURNAL_FILE), -1);
	assert_intent(reload(f, &reg), "a", "", (1ULL << 40) + 1, 1ULL << 40);
	registry_free(&reg);

	f->w->rb.active = false;
	assert_int_equal(index_save(&f->pd, f->w), 0);
	assert_false(reload(f, &reg)->rb.active);
	registry_free(&reg);
}

/* An intent written before the copy of the target exists names no copy (tmp_subvol 0). */
static void test_rollback_intent_without_copy_id(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };

	add_snap(f->w, "a", 1, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	set_intent(f->w, "a", "", 0, 299);
	f->w->rb.head_moved = false; /* the record written before the snapshot */
	assert_int_equal(index_save(&f->pd, f->w), 0);
	assert_intent(reload(f, &reg), "a", "", 0, 299);
	assert_false(reg.ws[0]->rb.head_moved);
	registry_free(&reg);
	f->w->rb.head_moved = true; /* the records after it */
	assert_int_equal(index_compact(&f->pd, f->w), 0);
	assert_intent(reload(f, &reg), "a", "", 0, 299);
	assert_true(reg.ws[0]->rb.head_moved);
	registry_free(&reg);
}

/* A checkpoint recorded before its snapshot is named in "creating", in the journal and in
 * index.json; a later save without it clears it. */
static void test_creating_round_trip(void **state)
{
	struct fx *f = *state;
	struct registry reg = { 0 };

	add_snap(f->w, "a", 1, NULL);
	assert_int_equal(index_save(&f->pd, f->w), 0);
	add_snap(f->w, "b", 2, NULL);
	snprintf(f->w->creating, sizeof(f->w->creating), "b");
	assert_int_equal(index_save(&f->pd, f->w), 0);
	assert_string_equal(reload(f, &reg)->creating, "b");
	registry_free(&reg);
	assert_int_equal(index_compact(&f->pd, f->w), 0);
	assert_string_equal(reload(f, &reg)->creating, "b");
	registry_free(&reg);
	f->w->creating[0] = '\0';
	assert_int_equal(index_save(&f->pd, f->w), 0);
	assert_string_equal(reload(f, &reg)->creating, "");
	registry_free(&reg);
}

/* A save split in two writes its line at the start and accounts for it at the end; one
 * that cannot be split (no AIO context, a compaction due) says so and writes nothing. */
static void test_split_save(void **state)
{
	struct fx *f = *state;
	struct index_save_async save;
	struct registry reg = { 0 };
	off_t before;

	add_snap(f->w, "a", 1, NULL);
	assert_int_equal(aio_sync_init(&f->pd.aio), 0);
	assert_int_equal(index_save_begin(&f->pd, f->w, &save), 1); /* no index.json yet */
	assert_int_equal(index_save(&f->pd, f->w), 0);
	add_snap(f->w, "b", 2, NULL);
	f->pd.aio.ready = false;
	assert_int_equal(index_save_begin(&f->pd, f->w, &save), 1); /* no AIO context */
	f->pd.aio.ready = true;
	assert_int_equal(index_save_begin(&f->pd, f->w, &save), 0); /* the journal's first line */
	assert_int_equal(index_save_end(&f->pd, f->w, &save), 0);
	before = file_size(f, INDEX_JOURNAL_FILE);
	assert_true(before > 0);
	add_snap(f->w, "c", 3, NULL);
	assert_int_equal(index_save_begin(&f->pd, f->w, &save), 0);
	assert_true(file_size(f, INDEX_JOURNAL_FILE) > before); /* written, being synced */
	assert_int_equal(index_save_end(&f->pd, f->w, &save), 0);
	assert_int_equal(reload(f, &reg)->nsnaps, 3);
	registry_free(&reg);
	assert_int_equal(index_save(&f->pd, f->w), 0); /* the split one was accounted for */
	assert_int_equal(reload(f, &reg)->nsnaps, 3);
	registry_free(&reg);
}

/* A line whose intent we could not have written is not a record of ours. */
static void test_invalid_rollback_intent_rejects_the_line(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"\"rollback_intent\":{\"target\":\"../x\",\"keep_as\":\"\",\"tmp_subvol\":300,\"live_subvol\":299}",
		/* the copy of the target must be the newer subvolume */
		"\"rollback_intent\":{\"target\":\"a\",\"keep_as\":\"\",\"tmp_subvol\":299,\"live_subvol\":300}",
		"\"rollback_intent\":{\"target\":\"a\",\"keep_as\":\"\",\"tmp_subvol\":300,\"live_subvol\":5}",
		"\"rollback_intent\":{\"target\":\"a\",\"keep_as\":\"a b\",\"tmp_subvol\":300,\"live_subvol\":299}",
		"\"rollback_intent\":{\"target\":\"a\",\"tmp_subvol\":300.5,\"live_subvol\":299}",
		"\"rollback_intent\":[1]",
		"\"rollback_intent\":null,\"creating\":\"../x\"",
		"\"rollback_intent\":null,\"creating\":7",
		"\"rollback_intent\":{\"target\":\"a\",\"keep_as\":\"\",\"tmp_subvol\":0,\"live_subvol\":299,\"head_moved\":1}",
	};
	char line[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line),
			 "{\"seq\":%zu,\"head\":\"a\",%s,\"pending_delete\":[],\"del\":[],\"put\":{}}\n",
			 i + 1, bad[i]);
		assert_int_equal(index_journal_apply_text(f->w, line, strlen(line)), 0);
		assert_false(f->w->rb.active);
	}
	snprintf(line, sizeof(line), "{\"seq\":1,\"head\":\"a\",\"rollback_intent\":{\"target\":\"a\",\"keep_as\":\"auto-x\",\"tmp_subvol\":300,\"live_subvol\":299},\"pending_delete\":[],\"del\":[],\"put\":{}}\n");
	assert_int_equal(index_journal_apply_text(f->w, line, strlen(line)), (long)strlen(line));
	assert_intent(f->w, "a", "auto-x", 300, 299);
	assert_true(f->w->rb.head_moved); /* written after the head moved, before the field */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_saves_append_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compacted_index_wins_over_old_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_line_stops_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_intent_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_rollback_intent_rejects_the_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_intent_without_copy_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creating_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
