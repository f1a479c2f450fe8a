/* ws-ckpt version: the client's version and the running daemon's. */
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"

#define PROTOCOL_VERSION 1

static const struct option version_longopts[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int version_render(const cJSON *res)
{
	const char *dv = json_str(res, "daemon_version");
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(res, "protocol");

	if (!dv) {
		out_err("Error: Malformed reply from ws-ckpt daemon: no \"daemon_version\"");
		return CLI_EXIT_FAIL;
	}
	out_line(stdout, OUT_PLAIN, "ws-ckptd (daemon) %s", dv);
	if (strcmp(dv, WSCKPT_VERSION) != 0) {
		out_warn("⚠ Version mismatch: ws-ckpt (cli) %s, ws-ckptd (daemon) %s.",
			 WSCKPT_VERSION, dv);
		out_hint("  Install matching versions and restart the daemon "
			 "('systemctl restart ws-ckpt').");
	}
	if (cJSON_IsNumber(proto) && proto->valuedouble != PROTOCOL_VERSION)
		out_warn("⚠ The daemon speaks protocol %g; this client speaks %d.",
			 proto->valuedouble, PROTOCOL_VERSION);
	return CLI_EXIT_OK;
}

static int version_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		       char **argv)
{
	struct opt_parser p;
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	int c, rc;

	opt_begin(&p, cmd, "+:h", version_longopts, argc, argv);
	while ((c = opt_next(&p)) != -1) {
		if (c != 'h')
			return CLI_EXIT_USAGE;
		cmd_help(cmd, stdout);
		return CLI_EXIT_OK;
	}
	if ((rc = opt_end(&p)) != 0)
		return rc;

	printf("ws-ckpt (cli) %s\n", WSCKPT_VERSION);
	fflush(stdout);
	rc = CLI_EXIT_FAIL;
	req = req_new("version");
	if (!req || client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	rc = res ? version_render(res) : reply_print_error(reply, ERR_STYLE_GENERIC);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_version = {
	.name = "version",
	.about = "Show the client and daemon versions",
	.usage = "ws-ckpt version",
	.options = "  -h, --help  Print help\n",
	.run = version_run,
};
