/* ws-ckpt init: turn a directory into a managed workspace. */
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

static const struct option init_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int init_render(const cJSON *res, const char *ws)
{
	const char *ws_id = json_str(res, "ws_id");

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
	int c, rc;

	opt_begin(&p, cmd, "+:w:h", init_longopts, argc, argv);
	while ((c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		if (c != 'w')
			return CLI_EXIT_USAGE;
		if ((rc = opt_set_once(cmd, &ws_arg, optarg, "--workspace")) != 0)
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
	rc = res ? init_render(res, ws) : reply_print_error(reply, ERR_STYLE_ACTION);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_init = {
	.name = "init",
	.about = "Initialize a workspace for btrfs snapshot management",
	.usage = "ws-ckpt init --workspace <WORKSPACE>",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (absolute path, relative path, or workspace ID)\n"
		"  -h, --help                   Print help\n",
	.run = init_run,
};
