/* ws-ckpt init: turn a directory into a managed workspace. */
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

static const struct option init_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* {"ws_id","workspace","already_initialized"} */
static int init_json(const cJSON *res, const char *ws)
{
	const char *path = json_str(res, "workspace_path");
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	o = jo_str(o, "workspace", path ? path : ws);
	o = jo_bool(o, "already_initialized", json_bool(res, "already_initialized", false));
	return json_emit(o);
}

static int init_render(const cJSON *res, const char *ws, enum out_format fmt)
{
	const char *ws_id = json_str(res, "ws_id");

	if (fmt == FMT_JSON)
		return init_json(res, ws);
	if (!ws_id)
		ws_id = ws;
	if (json_bool(res, "already_initialized", false))
		out_ok("✓ Workspace already initialized: %s", ws_id);
	else
		out_ok("✓ Workspace initialized: %s", ws_id);
	return CLI_EXIT_OK;
}

static int init_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct opt_parser p;
	const char *ws_arg = NULL;
	char ws[WS_PATH_MAX];
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	enum out_format fmt = FMT_UNSET;
	int c, rc;

	opt_begin(&p, cmd, "+:w:h", init_longopts, argc, argv);
	while ((c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		if (c == 'w')
			rc = opt_set_once(cmd, &ws_arg, optarg, "--workspace");
		else if (c == OPT_VAL_FORMAT || c == OPT_VAL_JSON)
			rc = opt_format(cmd, &fmt, c, optarg);
		else
			return CLI_EXIT_USAGE;
		if (rc != 0)
			return rc;
	}
	if ((rc = opt_end(&p)) != 0)
		return rc;
	if (!ws_arg)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if ((rc = wsarg_resolve(cmd, ws_arg, ws, sizeof(ws))) != 0)
		return rc;

	rc = CLI_EXIT_FAIL;
	req = req_new("init");
	if (!req || !req_add_str(req, "workspace", ws))
		goto out;
	if (client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	rc = res ? init_render(res, ws, fmt) : reply_print_error(reply, ERR_STYLE_ACTION);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_init = {
	.name = "init",
	.about = "Initialize a workspace for btrfs snapshot management",
	.usage = "ws-ckpt init [OPTIONS] --workspace <WORKSPACE>",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (absolute path, relative path, or workspace ID)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = init_run,
};
