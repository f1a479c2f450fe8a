/*
 * libFuzzer harness: editing one key of a config file (common/config_edit.c
 * config_edit_set), as `ws-ckpt config --...` makes ws-ckptd do. The first input byte
 * picks the key and value, the rest is the file's text (up to its first NUL).
 * Invariants: an edit of a file the parser accepts gives a file the parser accepts, with
 * the key at the new value and every other value unchanged; an edit never drops the
 * file's comment lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/config_edit.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_config_edit: invariant failed: %s\n", #cond);  \
			abort();                                                             \
		}                                                                            \
	} while (0)

struct edit {
	const char *section, *key, *value;
};

/* What privd/config_ops.c may set, with values its validation accepts. */
static const struct edit edits[] = {
	{ "", "auto_cleanup", "true" },
	{ "", "auto_cleanup", "false" },
	{ "", "auto_cleanup_keep", "7" },
	{ "", "auto_cleanup_keep", "\"30d\"" },
	{ "", "auto_cleanup_interval_secs", "3600" },
	{ "", "health_check_interval_secs", "60" },
	{ "backend.btrfs-loop", "img_size", "12" },
	{ "backend.btrfs-loop", "img_max_percent", "50" },
};

/* The struct with the edited key's field set to what the edit wrote. */
static void apply_expected(struct config *c, const struct edit *e)
{
	if (strcmp(e->key, "auto_cleanup") == 0)
		c->auto_cleanup = strcmp(e->value, "true") == 0;
	else if (strcmp(e->key, "auto_cleanup_keep") == 0) {
		/* as a fresh parse leaves it: the value, then the zeroes of the defaults */
		memset(c->auto_cleanup_keep, 0, sizeof(c->auto_cleanup_keep));
		snprintf(c->auto_cleanup_keep, sizeof(c->auto_cleanup_keep), "%s",
			 e->value[0] == '"' ? "30d" : e->value);
	} else if (strcmp(e->key, "auto_cleanup_interval_secs") == 0)
		c->auto_cleanup_interval_secs = 3600;
	else if (strcmp(e->key, "health_check_interval_secs") == 0)
		c->health_check_interval_secs = 60;
	else if (strcmp(e->key, "img_size") == 0)
		c->img_size_gib = 12;
	else
		c->img_max_percent = 50;
}

static size_t count_comment_lines(const char *t)
{
	size_t n = 0;
	int bol = 1;

	for (; *t; t++) {
		if (bol) {
			const char *p = t;
			while (*p == ' ' || *p == '\t')
				p++;
			n += *p == '#';
		}
		bol = *t == '\n';
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct edit *e;
	struct config before, after;
	char err[512], *text, *out;
	int ok_before;

	if (size < 1)
		return 0;
	e = &edits[data[0] % (sizeof(edits) / sizeof(edits[0]))];
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	config_defaults(&before);
	ok_before = config_parse("fuzz.toml", text, &before, err, sizeof(err)) == 0;
	out = config_edit_set(text, e->section, e->key, e->value);
	/* Under libFuzzer malloc does not fail, so NULL would be a refusal of valid input. */
	CHECK(out != NULL || !ok_before);
	if (out && ok_before) {
		config_defaults(&after);
		if (config_parse("fuzz.toml", out, &after, err, sizeof(err)) != 0) {
			fprintf(stderr, "edited file rejected: %s\n--- before:\n%s\n--- after:\n%s\n", err,
				text, out);
			abort();
		}
		apply_expected(&before, e);
		/* Only which keys appear may differ (the edited one now does). */
		before.set_mask = after.set_mask = 0;
		CHECK(memcmp(&before, &after, sizeof(before)) == 0);
		CHECK(count_comment_lines(out) >= count_comment_lines(text));
	}
	free(out);
	free(text);
	return 0;
}
