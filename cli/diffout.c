/* One line per change: marker, path, detail; then the count (the Rust ws-ckpt's layout). */
#include "cli/diffout.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/jsonmode.h"
#include "cli/output.h"
#include "cli/reply.h"

struct marker {
	const char *change;
	const char *mark;
	enum out_style style;
};

static const struct marker markers[] = {
	{ "added", "+", OUT_GREEN },
	{ "deleted", "-", OUT_RED },
	{ "modified", "M", OUT_YELLOW },
	{ "renamed", "R", OUT_PLAIN },
};

static const struct marker *marker_for(const char *change)
{
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		if (change && strcmp(markers[i].change, change) == 0)
			return &markers[i];
	}
	return NULL;
}

static void render_one(const cJSON *c)
{
	const char *change = json_str(c, "change"), *path = json_str(c, "path");
	const char *old = json_str(c, "old_path"), *kind = json_str(c, "kind");
	const struct marker *m = marker_for(change);
	char detail[64] = "";

	if (!m || !path)
		return;
	if (kind && (strcmp(kind, "directory") == 0 || strcmp(kind, "symlink") == 0 ||
		     strcmp(kind, "hardlink") == 0))
		snprintf(detail, sizeof(detail), "%s", kind);
	if (old)
		out_line(stdout, m->style, "%s  %s (%s → %s)", m->mark, path, old, path);
	else if (detail[0])
		out_line(stdout, m->style, "%s  %s (%s)", m->mark, path, detail);
	else
		out_line(stdout, m->style, "%s  %s", m->mark, path);
}

int diff_render(const cJSON *res, enum out_format fmt)
{
	const cJSON *changes = cJSON_GetObjectItemCaseSensitive(res, "changes");
	const cJSON *c;
	int n = 0;

	if (!cJSON_IsArray(changes)) {
		out_err("Error: malformed diff result from the daemon");
		return CLI_EXIT_FAIL;
	}
	if (fmt == FMT_JSON) {
		json_print_doc(changes);
		return CLI_EXIT_OK;
	}
	cJSON_ArrayForEach(c, changes) {
		render_one(c);
		n++;
	}
	if (n == 0)
		out_line(stdout, OUT_PLAIN, "No differences found.");
	else
	{
		out_line(stdout, OUT_PLAIN, "%s", "");
		out_line(stdout, OUT_PLAIN, "%d change(s)", n);
	}
	return CLI_EXIT_OK;
}
