/*
 * The advisory uses the caller's own view, so it only talks about workspaces the caller
 * may see: the "advisory" object the daemon puts on the command's own reply, or, from a
 * daemon without it, a status request. Any failure is silent: an advisory must never
 * turn success into noise.
 */
#include "cli/advisory.h"

#include <stdio.h>

#include "cli/client.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "common/advisory_limits.h"


static double number(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A status result (daemons before the "advisory" reply field) counts workspaces itself. */
static int count_big(const cJSON *res)
{
	const cJSON *wss = cJSON_GetObjectItemCaseSensitive(res, "workspaces"), *w;
	int n = 0;

	cJSON_ArrayForEach(w, wss)
		n += number(w, "snapshot_count") > ADVISORY_SNAPSHOT_LIMIT;
	return n;
}

static double usage_percent(const cJSON *obj)
{
	double t = number(obj, "fs_total_bytes");

	return t > 0 ? 100.0 * number(obj, "fs_used_bytes") / t : 0;
}

void advisory_check(const struct cli_ctx *ctx)
{
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res = client_last_advisory();
	double used;
	int big, limit = ADVISORY_SNAPSHOT_LIMIT;

	if (res) {
		big = (int)number(res, "over_limit_workspace_count");
		if (number(res, "snapshot_limit") >= 1)
			limit = (int)number(res, "snapshot_limit");
	} else {
		req = req_new("status");
		if (!req || client_call_quiet(ctx->socket_path, req, &reply) != 0)
			goto out;
		res = reply_result(reply);
		if (!res)
			goto out;
		big = count_big(res);
	}
	used = usage_percent(res);
	if (big == 0 && used <= ADVISORY_USAGE_PERCENT)
		goto out;
	out_warn("%s", "");
	if (big)
		out_warn("⚠ Warning: %d workspace(s) have more than %d snapshots. Run `ws-ckpt status` to see details.",
			 big, limit);
	if (used > ADVISORY_USAGE_PERCENT)
		out_warn("⚠ Warning: btrfs backend usage above 90%% (current: %.1f%%).", used);
	out_warn("%s", "");
	out_warn("  Manual cleanup:   ws-ckpt cleanup -w <workspace> --keep <N>");
	out_warn("  Or enable auto-cleanup for all workspaces (admin):");
	out_warn("      ws-ckpt config --enable-auto-cleanup --auto-cleanup-keep 1000 --auto-cleanup-interval 86400");
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
}
