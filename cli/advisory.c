/*
 * The advisory uses the caller's own status view, so it only talks about workspaces the
 * caller may see. Any failure is silent: an advisory must never turn success into noise.
 */
#include "cli/advisory.h"

#include <stdio.h>

#include "cli/client.h"
#include "cli/output.h"
#include "cli/reply.h"

#define SNAPSHOT_ADVISORY_LIMIT 1000
#define USAGE_ADVISORY_PERCENT 90.0

static int count_big(const cJSON *res)
{
	const cJSON *wss = cJSON_GetObjectItemCaseSensitive(res, "workspaces"), *w;
	int n = 0;

	cJSON_ArrayForEach(w, wss) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "snapshot_count");
		n += cJSON_IsNumber(c) && c->valuedouble > SNAPSHOT_ADVISORY_LIMIT;
	}
	return n;
}

static double usage_percent(const cJSON *res)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "fs_total_bytes");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(res, "fs_used_bytes");

	if (!cJSON_IsNumber(t) || !cJSON_IsNumber(u) || t->valuedouble <= 0)
		return 0;
	return 100.0 * u->valuedouble / t->valuedouble;
}

void advisory_check(const struct cli_ctx *ctx)
{
	cJSON *req = req_new("status"), *reply = NULL;
	const cJSON *res;
	double used;
	int big;

	if (!req || client_call_quiet(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	if (!res)
		goto out;
	big = count_big(res);
	used = usage_percent(res);
	if (big == 0 && used <= USAGE_ADVISORY_PERCENT)
		goto out;
	out_warn("%s", "");
	if (big)
		out_warn("⚠ Warning: %d workspace(s) have more than %d snapshots. Run `ws-ckpt status` to see details.",
			 big, SNAPSHOT_ADVISORY_LIMIT);
	if (used > USAGE_ADVISORY_PERCENT)
		out_warn("⚠ Warning: btrfs backend usage above 90%% (current: %.1f%%).", used);
	out_warn("%s", "");
	out_warn("  Manual cleanup:   ws-ckpt cleanup -w <workspace> --keep <N>");
	out_warn("  Or enable auto-cleanup for all workspaces (admin):");
	out_warn("      ws-ckpt config --enable-auto-cleanup --auto-cleanup-keep 1000 --auto-cleanup-interval 86400");
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
}
