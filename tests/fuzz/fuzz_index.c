/*
 * libFuzzer harness: privd's index.json parser (privd/state_store.c index_parse_text,
 * the part of index_load after the file is read). The input is the file content, in
 * a buffer of exactly its length (no terminating NUL) so any over-read is caught.
 * On success the snapshots must be valid, unique and in creation order.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "common/validate.h"
#include "privd/state_store.h"

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_index: invariant failed: %s\n", #cond);    \
			abort();                                                        \
		}                                                                       \
	} while (0)

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static void check_loaded(const struct workspace *w)
{
	CHECK(w->nsnaps <= w->cap);
	for (size_t i = 0; i < w->nsnaps; i++) {
		const struct snapshot *s = &w->snaps[i];
		struct timespec ts;

		CHECK(snapshot_id_valid(s->id));
		CHECK(memchr(s->created_at, '\0', sizeof(s->created_at)) != NULL);
		CHECK(rfc3339_parse(s->created_at, &ts) && ts_cmp(&ts, &s->created_ts) == 0);
		CHECK(s->created_ts.tv_nsec >= 0 && s->created_ts.tv_nsec < 1000000000L);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(w->snaps[j].id, s->id) != 0);
		if (i > 0)
			CHECK(ts_cmp(&w->snaps[i - 1].created_ts, &s->created_ts) <= 0);
	}
	/* Delete intents: snapshot ids, or "." + id (temporary diff snapshots). */
	for (size_t i = 0; i < w->npending; i++)
		CHECK(snapshot_id_valid(w->pending[i]) ||
		      (w->pending[i][0] == '.' && snapshot_id_valid(w->pending[i] + 1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry reg = { 0 };
	struct workspace *w;
	char err[256];
	char *text = malloc(size ? size : 1);
	int rc;

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	w = registry_add(&reg, "ws-0a1b2c", "/home/user/project");
	CHECK(w != NULL);
	err[0] = '\0';
	rc = index_parse_text(w, text, size, err, sizeof(err));
	if (rc == 0)
		check_loaded(w);
	else
		/* Not -ENOMEM: under ASan/libFuzzer malloc never returns NULL (it aborts). */
		CHECK(rc == -EINVAL && err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
	/* Frees the snapshots even of a rejected index (index_load leaves them in w). */
	registry_free(&reg);
	free(text);
	return 0;
}
