/* ws-ckpt version: the client's version and the running daemon's. */
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"

#define PROTOCOL_VERSION 1

static const struct option version_longopts[] = {
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The mismatch warnings (stderr) for daemon version dv and its protocol. */
static void version_warn(const char *dv, const cJSON *proto)
{
	if (strcmp(dv, WSCKPT_VERSION) != 0) {
		out_warn("⚠ Version mismatch: ws-ckpt (cli) %s, ws-ckptd (daemon) %s.",
			 WSCKPT_VERSION, dv);
		out_hint("  Install matching versions and restart the daemon "
			 "('systemctl restart ws-ckpt').");
	}
	if (cJSON_IsNumber(proto) && proto->valuedouble != PROTOCOL_VERSION)
		out_warn("⚠ The daemon speaks protocol %g; this client speaks %d.",
			 proto->valuedouble, PROTOCOL_VERSION);
}

/* {"cli_version","daemon_version","protocol"|null,"cli_protocol"} */
static int version_json(const char *dv, const cJSON *proto)
{
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "cli_version", WSCKPT_VERSION);
	o = jo_str(o, "daemon_version", dv);
	o = cJSON_IsNumber(proto) ? jo_num(o, "protocol", proto->valuedouble) : jo_str(o, "protocol", NULL);
	o = jo_num(o, "cli_protocol", PROTOCOL_VERSION);
	return json_emit(o);
}

static int version_render(const cJSON *res, enum out_format fmt)
{
	const char *dv = json_str(res, "daemon_version");
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(res, "protocol");

	if (!dv) {
		out_err("Error: Malformed reply from ws-ckpt daemon: no \"daemon_version\"");
		return CLI_EXIT_FAIL;
	}
	if (fmt == FMT_JSON) {
		version_warn(dv, proto);
		return version_json(dv, proto);
	}
	out_line(stdout, OUT_PLAIN, "ws-ckptd (daemon) %s", dv);
	version_warn(dv, proto);
	return CLI_EXIT_OK;
}

static int version_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		       char **argv)
{
	struct opt_parser p;
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	enum out_format fmt = FMT_UNSET;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:h", version_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		if (c != OPT_VAL_FORMAT && c != OPT_VAL_JSON)
			return CLI_EXIT_USAGE;
		rc = opt_format(cmd, &fmt, c, optarg);
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;

	if (fmt != FMT_JSON) {
		printf("ws-ckpt (cli) %s\n", WSCKPT_VERSION);
		fflush(stdout);
	}
	rc = CLI_EXIT_FAIL;
	req = req_new("version");
	if (!req || client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	rc = res ? version_render(res, fmt) : reply_print_error(reply, ERR_STYLE_GENERIC);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_version = {
	.name = "version",
	.about = "Show the client and daemon versions",
	.usage = "ws-ckpt version [OPTIONS]",
	.options = "      --format <FORMAT>  Output format: table or json (default: table)\n"
		   "      --json             Same as --format json\n"
		   "  -h, --help             Print help\n",
	.run = version_run,
};
