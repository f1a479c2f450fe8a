/* ws-ckpt rollback: replace the live workspace with a copy of a snapshot. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/diffout.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_DISCARD = 0x100, OPT_PREVIEW };

#define MAX_STEPS 100000

static const struct option rollback_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"snapshot", required_argument, NULL, 's'},
	{"discard-current", no_argument, NULL, OPT_DISCARD},
	{"preview", no_argument, NULL, OPT_PREVIEW},
	{"steps", required_argument, NULL, 'n'},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct rollback_args {
	const char *ws, *snap, *steps;
	bool discard, preview;
	enum out_format fmt;
};

/* Returns -1 to go on, else an exit code (help printed or usage error). */
static int rollback_parse(const struct cli_cmd *cmd, int argc, char **argv, struct rollback_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:s:n:h", rollback_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case 's': rc = opt_set_once(cmd, &a->snap, optarg, "--snapshot"); break;
		case 'n': rc = opt_set_once(cmd, &a->steps, optarg, "-n"); break;
		case OPT_DISCARD: a->discard = true; break;
		case OPT_PREVIEW: a->preview = true; break;
		case OPT_VAL_FORMAT:
		case OPT_VAL_JSON: rc = opt_format(cmd, &a->fmt, c, optarg); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!a->ws)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if (a->snap && a->steps)
		return usage_error(cmd, "-s/--snapshot and -n cannot be used together");
	if (a->steps) {
		char *end;
		long n = strtol(a->steps, &end, 10);
		if (*end || end == a->steps || n < 1 || n > MAX_STEPS)
			return usage_error(cmd, "invalid value '%s' for -n: expected an integer in 1..%d",
					   a->steps, MAX_STEPS);
		if (a->preview)
			return usage_error(cmd, "-n and --preview cannot be used together");
		return -1;
	}
	if (!a->snap)
		return opt_missing(cmd, "--snapshot <SNAPSHOT> (or -n <N>)");
	if ((rc = opt_check_snapshot_id(cmd, a->snap, "--snapshot")) != 0)
		return rc;
	if (a->preview && a->discard)
		return usage_error(cmd, "--preview and --discard-current cannot be used together");
	return -1;
}

/* {"ws_id","workspace","snapshot","steps"|null,"auto_snapshot"|null,"discarded"} */
static int rollback_json(const cJSON *res, const struct rollback_args *a, const char *ws)
{
	const char *snap = json_str(res, "snapshot");
	const char *prev = json_str(res, "auto_snapshot");
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	o = jo_str(o, "workspace", ws);
	o = jo_str(o, "snapshot", snap ? snap : a->snap);
	if (a->steps)
		o = jo_num(o, "steps", (double)strtol(a->steps, NULL, 10));
	else
		o = jo_str(o, "steps", NULL);
	o = jo_str(o, "auto_snapshot", prev);
	o = jo_bool(o, "discarded", prev == NULL);
	return json_emit(o);
}

static int rollback_render(const cJSON *res, const struct rollback_args *a, const char *ws)
{
	const char *ws_id = json_str(res, "ws_id");
	const char *snap = json_str(res, "snapshot");
	const char *prev = json_str(res, "auto_snapshot");

	if (a->fmt == FMT_JSON)
		return rollback_json(res, a, ws);
	out_ok("✓ Rolled back workspace %s to snapshot: %s", ws_id ? ws_id : ws,
	       snap ? snap : (a->snap ? a->snap : "?"));
	if (prev)
		out_line(stdout, OUT_PLAIN, "  Previous state saved as snapshot: %s", prev);
	return CLI_EXIT_OK;
}

static int rollback_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
			char **argv)
{
	struct rollback_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	int rc = rollback_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if ((rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	rc = CLI_EXIT_FAIL;
	req = req_new("rollback");
	if (!req || !req_add_str(req, "workspace", ws) ||
	    (a.snap && !req_add_str(req, "snapshot", a.snap)) ||
	    (a.steps && !cJSON_AddNumberToObject(req, "steps", (double)strtol(a.steps, NULL, 10))) ||
	    (a.discard && !req_add_bool(req, "discard_current", true)) ||
	    (a.preview && !req_add_bool(req, "preview", true)))
		goto out;
	if (client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	if (res && a.preview)
		rc = diff_render(res, a.fmt);
	else if (res)
		rc = rollback_render(res, &a, ws);
	else if (a.steps && reply_error_code(reply) &&
		 strcmp(reply_error_code(reply), "InvalidArgument") == 0) {
		/* -n beyond the history is a usage error, like a bad flag value. */
		reply_print_error(reply, ERR_STYLE_GENERIC);
		rc = CLI_EXIT_USAGE;
	}
	else
		rc = reply_print_error(reply, ERR_STYLE_ACTION);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_rollback = {
	.name = "rollback",
	.about = "Rollback workspace to a specific snapshot",
	.usage = "ws-ckpt rollback [OPTIONS] --workspace <WORKSPACE> (--snapshot <SNAPSHOT> | -n <N>)",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (absolute path, relative path, or workspace ID)\n"
		"  -s, --snapshot <SNAPSHOT>    Target snapshot ID\n"
		"      --discard-current        Do not keep the current state as an automatic snapshot\n"
		"      --preview                List the changes a rollback would make; change nothing\n"
		"  -n, --steps <N>              Go back N steps in the checkpoint history instead of -s\n"
		"                               (1: the latest checkpoint, 2: the one before it, ...)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = rollback_run,
};
