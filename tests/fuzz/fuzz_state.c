/*
 * libFuzzer harness: privd's state.json parser (privd/state_store.c state_parse_text,
 * the part of state_load after the file is read). The input is the file content, in
 * a buffer of exactly its length (no terminating NUL) so any over-read is caught.
 * On success the registry must hold only what later code assumes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"
#include "privd/state_store.h"

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_state: invariant failed: %s\n", #cond);    \
			abort();                                                        \
		}                                                                       \
	} while (0)

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* struct privd is large (config paths); keep it off the stack. */
static struct privd pd;

static void check_loaded(const struct privd *p)
{
	const struct backend_state *be = &p->be;

	CHECK(strcmp(be->backend_type, "BtrfsLoop") == 0 || strcmp(be->backend_type, "BtrfsBase") == 0);
	CHECK(TERMINATED(be->selection_method) && TERMINATED(be->selected_at));
	CHECK(TERMINATED(be->mount_path) && TERMINATED(be->data_root));
	CHECK(TERMINATED(be->snapshots_root) && TERMINATED(be->img_path));
	CHECK(TERMINATED(be->last_loop_device));
	CHECK(p->reg.n <= p->reg.cap);
	for (size_t i = 0; i < p->reg.n; i++) {
		const struct workspace *w = p->reg.ws[i];

		CHECK(ws_id_valid(w->ws_id));
		CHECK(w->path[0] == '/' && TERMINATED(w->path));
		CHECK(TERMINATED(w->registered_at) && TERMINATED(w->origin_backend));
		CHECK(w->origin_backend[0] != '\0');
		CHECK(w->phase == WS_READY || w->phase == WS_INITIALIZING);
		CHECK(w->nsnaps == 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(p->reg.ws[j]->ws_id, w->ws_id) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	int rc;

	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	memset(&pd, 0, sizeof(pd));
	config_defaults(&pd.cfg);
	rc = state_parse_text(&pd, text, size);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_loaded(&pd);
	} else {
		/* A rejected file leaves nothing behind. */
		CHECK(pd.reg.n == 0 && pd.reg.ws == NULL);
		CHECK(pd.be.backend_type[0] == '\0');
	}
	registry_free(&pd.reg);
	free(text);
	return 0;
}
