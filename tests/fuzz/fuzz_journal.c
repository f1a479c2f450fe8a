/*
 * libFuzzer harness: the index journal replay (privd/index_journal.c
 * index_journal_apply_text) on top of a fixed index.json (journal_seq 1, snapshots s1, s2).
 * The input is the journal's content in a buffer of exactly its length.
 * Invariants: the replay consumes whole lines only, seq never goes backwards, the
 * snapshots stay valid, unique and in creation order, and a rollback intent is valid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"
#include "privd/index_journal.h"
#include "privd/state_store.h"

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_journal: invariant failed: %s\n", #cond);  \
			abort();                                                        \
		}                                                                       \
	} while (0)

static const char base_index[] =
	"{\"workspace_path\":\"/home/u/p\",\"journal_seq\":1,\"head\":\"s2\",\"snapshots\":{"
	"\"s1\":{\"message\":\"a\",\"metadata\":null,\"pinned\":false,"
	"\"created_at\":\"2026-01-02T03:04:05Z\",\"missing\":false},"
	"\"s2\":{\"message\":null,\"metadata\":{\"k\":1},\"pinned\":true,"
	"\"created_at\":\"2026-01-02T03:04:06Z\",\"missing\":false,\"parent\":\"s1\"}}}";

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

static void check_ws(const struct workspace *w)
{
	CHECK(w->head[0] == '\0' || snapshot_id_valid(w->head));
	for (size_t i = 0; i < w->nsnaps; i++) {
		CHECK(snapshot_id_valid(w->snaps[i].id));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(w->snaps[j].id, w->snaps[i].id) != 0);
		if (i > 0)
			CHECK(ts_cmp(&w->snaps[i - 1].created_ts, &w->snaps[i].created_ts) <= 0);
	}
	for (size_t i = 0; i < w->npending; i++)
		CHECK(snapshot_id_valid(w->pending[i]) ||
		      (w->pending[i][0] == '.' && snapshot_id_valid(w->pending[i] + 1)));
	CHECK(w->creating[0] == '\0' || snapshot_id_valid(w->creating));
	/* A rollback intent names real ids, and the copy, when named (0: the record was
	 * written before it existed), is the newer subvolume. */
	if (w->rb.active) {
		CHECK(snapshot_id_valid(w->rb.target));
		CHECK(w->rb.keep_as[0] == '\0' || snapshot_id_valid(w->rb.keep_as));
		CHECK(w->rb.live_subvol >= 256 &&
		      (w->rb.tmp_subvol == 0 || w->rb.tmp_subvol > w->rb.live_subvol));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry reg = { 0 };
	struct workspace *w = registry_add(&reg, "ws-0a1b2c", "/home/u/p");
	char err[256];
	char *text = malloc(size ? size : 1);
	long used;

	CHECK(w != NULL && text != NULL);
	if (size)
		memcpy(text, data, size);
	CHECK(index_parse_text(w, base_index, sizeof(base_index), err, sizeof(err)) == 0);
	CHECK(w->journal_seq == 1 && w->nsnaps == 2);
	used = index_journal_apply_text(w, text, size);
	CHECK(used >= 0 && (size_t)used <= size);
	CHECK(used == 0 || text[used - 1] == '\n');
	CHECK(w->journal_seq >= 1);
	check_ws(w);
	registry_free(&reg);
	free(text);
	return 0;
}
