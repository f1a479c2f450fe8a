/* ws-ckpt pin / unpin / cleanup: what cleanup may remove, and removing it. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/units.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_KEEP = 0x100 };

static const struct option ret_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"snapshot", required_argument, NULL, 's'},
	{"keep", required_argument, NULL, OPT_KEEP},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct ret_args {
	const char *ws, *snap, *keep;
	enum out_format fmt;
};

static int parse_keep(const struct cli_cmd *cmd, const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || *end || end == s || *out < 0 || *out > 1000000)
		return usage_error(cmd, "invalid value '%s' for --keep: expected an integer in 0..1000000", s);
	return 0;
}

/* Returns -1 to go on, else an exit code. need_snap: pin/unpin; else cleanup. */
static int ret_parse(const struct cli_cmd *cmd, int argc, char **argv, struct ret_args *a,
		     bool need_snap)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, need_snap ? "+:w:s:h" : "+:w:h", ret_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case 's': rc = opt_set_once(cmd, &a->snap, optarg, "--snapshot"); break;
		case OPT_KEEP:
			if (need_snap)
				return usage_error(cmd, "unexpected option --keep");
			rc = opt_set_once(cmd, &a->keep, optarg, "--keep");
			break;
		case OPT_VAL_FORMAT:
		case OPT_VAL_JSON: rc = opt_format(cmd, &a->fmt, c, optarg); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!a->ws)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if (need_snap && !a->snap)
		return opt_missing(cmd, "--snapshot <SNAPSHOT>");
	if (need_snap && (rc = opt_check_snapshot_id(cmd, a->snap, "--snapshot")) != 0)
		return rc;
	return -1;
}

static int call(const struct cli_ctx *ctx, cJSON *req, cJSON **reply)
{
	int rc = client_call(ctx->socket_path, req, reply);

	cJSON_Delete(req);
	return rc;
}

/* {"ws_id","snapshot","pinned"} */
static int pin_json(const cJSON *res, const char *snap_arg, bool pin)
{
	const char *id = json_str(res, "snapshot");
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	o = jo_str(o, "snapshot", id ? id : snap_arg);
	o = jo_bool(o, "pinned", json_bool(res, "pinned", pin));
	return json_emit(o);
}

static int pin_common(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv,
		      bool pin)
{
	struct ret_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req, *reply = NULL;
	const cJSON *res;
	int rc = ret_parse(cmd, argc, argv, &a, true);

	if (rc >= 0)
		return rc;
	if ((rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = req_new(pin ? "pin" : "unpin");
	if (!req || !req_add_str(req, "workspace", ws) || !req_add_str(req, "snapshot", a.snap)) {
		cJSON_Delete(req);
		return CLI_EXIT_FAIL;
	}
	if (call(ctx, req, &reply) != 0)
		return CLI_EXIT_FAIL;
	res = reply_result(reply);
	if (res && a.fmt == FMT_JSON) {
		rc = pin_json(res, a.snap, pin);
	} else if (res) {
		const char *id = json_str(res, "snapshot");
		out_ok("✓ %s: %s", pin ? "Pinned" : "Unpinned", id ? id : a.snap);
		rc = CLI_EXIT_OK;
	} else {
		rc = reply_print_error(reply, ERR_STYLE_ACTION);
	}
	cJSON_Delete(reply);
	return rc;
}

static int pin_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	return pin_common(ctx, cmd, argc, argv, true);
}

static int unpin_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	return pin_common(ctx, cmd, argc, argv, false);
}

/* {"ws_id","removed":[ids],"space"?:{...}}: "space" passed through when the daemon sent it. */
static int cleanup_json(const cJSON *res)
{
	const cJSON *removed = cJSON_GetObjectItemCaseSensitive(res, "removed");
	const cJSON *space = cJSON_GetObjectItemCaseSensitive(res, "space");
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	if (cJSON_IsArray(removed))
		o = jo_dup(o, "removed", removed);
	else if (o && !cJSON_AddArrayToObject(o, "removed")) {
		cJSON_Delete(o);
		o = NULL;
	}
	if (space)
		o = jo_dup(o, "space", space);
	return json_emit(o);
}

/* What btrfs gave back, when the daemon measured it ("space" is optional in the reply). */
static void cleanup_space(const cJSON *space)
{
	char freed[32];

	if (!cJSON_IsObject(space))
		return;
	if (json_bool(space, "cleaner_done", false)) {
		units_bytes(json_u64(space, "freed_bytes", 0), freed, sizeof(freed));
		out_line(stdout, OUT_PLAIN, "Freed %s", freed);
		return;
	}
	out_warn("⚠ btrfs is still reclaiming space from %" PRIu64 " deleted snapshot(s) in the "
		 "background; free space will grow when it finishes.", json_u64(space, "pending", 0));
}

static int cleanup_render(const cJSON *res, enum out_format fmt)
{
	const cJSON *removed = cJSON_GetObjectItemCaseSensitive(res, "removed"), *id;
	int n = cJSON_GetArraySize(removed);

	if (fmt == FMT_JSON)
		return cleanup_json(res);
	if (n == 0) {
		out_ok("✓ No snapshots needed cleanup.");
		return CLI_EXIT_OK;
	}
	out_ok("✓ Cleaned up %d snapshot(s):", n);
	cJSON_ArrayForEach(id, removed) {
		if (cJSON_IsString(id))
			out_line(stdout, OUT_PLAIN, "  - %s", id->valuestring);
	}
	cleanup_space(cJSON_GetObjectItemCaseSensitive(res, "space"));
	return CLI_EXIT_OK;
}

static int cleanup_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct ret_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req, *reply = NULL;
	const cJSON *res;
	long keep = 20;
	int rc = ret_parse(cmd, argc, argv, &a, false);

	if (rc >= 0)
		return rc;
	if (a.keep && (rc = parse_keep(cmd, a.keep, &keep)) != 0)
		return rc;
	if ((rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = req_new("cleanup");
	if (!req || !req_add_str(req, "workspace", ws) ||
	    !cJSON_AddNumberToObject(req, "keep", (double)keep)) {
		cJSON_Delete(req);
		return CLI_EXIT_FAIL;
	}
	if (call(ctx, req, &reply) != 0)
		return CLI_EXIT_FAIL;
	res = reply_result(reply);
	rc = res ? cleanup_render(res, a.fmt) : reply_print_error(reply, ERR_STYLE_GENERIC);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_pin = {
	.name = "pin",
	.about = "Pin a snapshot so cleanup never removes it",
	.usage = "ws-ckpt pin [OPTIONS] --workspace <WORKSPACE> --snapshot <SNAPSHOT>",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "  -s, --snapshot <SNAPSHOT>    Snapshot ID or unique prefix\n"
		   "      --format <FORMAT>        Output format: table or json (default: table)\n"
		   "      --json                   Same as --format json\n"
		   "  -h, --help                   Print help\n",
	.run = pin_run,
};

const struct cli_cmd cmd_unpin = {
	.name = "unpin",
	.about = "Unpin a snapshot",
	.usage = "ws-ckpt unpin [OPTIONS] --workspace <WORKSPACE> --snapshot <SNAPSHOT>",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "  -s, --snapshot <SNAPSHOT>    Snapshot ID or unique prefix\n"
		   "      --format <FORMAT>        Output format: table or json (default: table)\n"
		   "      --json                   Same as --format json\n"
		   "  -h, --help                   Print help\n",
	.run = unpin_run,
};

const struct cli_cmd cmd_cleanup = {
	.name = "cleanup",
	.about = "Clean up old snapshots, keeping the most recent ones",
	.usage = "ws-ckpt cleanup [OPTIONS] --workspace <WORKSPACE> [--keep <N>]",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "      --keep <N>               Number of recent unpinned snapshots to keep (default: 20)\n"
		   "      --format <FORMAT>        Output format: table or json (default: table)\n"
		   "      --json                   Same as --format json\n"
		   "  -h, --help                   Print help\n",
	.run = cleanup_run,
};
