/* ws-ckpt diff: changes between two snapshots, or from a snapshot to the live workspace. */
#include <stdbool.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/diffout.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_FORMAT = 0x100, OPT_JSON };

static const struct option diff_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"from", required_argument, NULL, 'f'},
	{"to", required_argument, NULL, 't'},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct diff_args {
	const char *ws, *from, *to;
	enum out_format fmt;
};

static int diff_parse(const struct cli_cmd *cmd, int argc, char **argv, struct diff_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:f:t:h", diff_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case 'f': rc = opt_set_once(cmd, &a->from, optarg, "--from"); break;
		case 't': rc = opt_set_once(cmd, &a->to, optarg, "--to"); break;
		case OPT_FORMAT: rc = opt_set_format(cmd, &a->fmt, optarg); break;
		case OPT_JSON: rc = opt_set_format(cmd, &a->fmt, "json"); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!a->ws)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if (!a->from)
		return opt_missing(cmd, "--from <FROM>");
	if ((rc = opt_check_snapshot_id(cmd, a->from, "--from")) != 0)
		return rc;
	if (a->to && (rc = opt_check_snapshot_id(cmd, a->to, "--to")) != 0)
		return rc;
	return -1;
}

static int diff_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct diff_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req;
	int rc = diff_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if ((rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = req_new("diff");
	if (req && (!req_add_str(req, "workspace", ws) || !req_add_str(req, "from", a.from) ||
	    (a.to && !req_add_str(req, "to", a.to)))) {
		cJSON_Delete(req);
		req = NULL;
	}
	return client_render(ctx->socket_path, req, diff_render, a.fmt, ERR_STYLE_GENERIC);
}

const struct cli_cmd cmd_diff = {
	.name = "diff",
	.about = "Show the changes between two snapshots, or from a snapshot to the live workspace",
	.usage = "ws-ckpt diff [OPTIONS] --workspace <WORKSPACE> --from <FROM> [--to <TO>]",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		"  -f, --from <FROM>            Source snapshot (ID or unique prefix)\n"
		"  -t, --to <TO>                Target snapshot (default: the live workspace)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = diff_run,
};
