/* ws-ckpt delete: remove one snapshot, asking first unless --force. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/confirm.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_FORCE = 0x100 };

static const struct option delete_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"snapshot", required_argument, NULL, 's'},
	{"force", no_argument, NULL, OPT_FORCE},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct delete_args {
	const char *ws, *snap;
	bool force;
	enum out_format fmt;
};

/* Returns -1 to go on, else an exit code (help printed or usage error). */
static int delete_parse(const struct cli_cmd *cmd, int argc, char **argv, struct delete_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:s:h", delete_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case 's': rc = opt_set_once(cmd, &a->snap, optarg, "--snapshot"); break;
		case OPT_FORCE: a->force = true; break;
		case OPT_VAL_FORMAT:
		case OPT_VAL_JSON: rc = opt_format(cmd, &a->fmt, c, optarg); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!a->snap)
		return opt_missing(cmd, "--snapshot <SNAPSHOT>");
	if ((rc = opt_check_snapshot_id(cmd, a->snap, "--snapshot")) != 0)
		return rc;
	if ((rc = opt_json_needs(cmd, a->fmt, a->force, "--force")) != 0)
		return rc;
	return -1;
}

/* Send one delete request; returns 0 with *reply or -1 (printed). */
static int delete_call(const struct cli_ctx *ctx, const struct delete_args *a, const char *ws,
		       bool force, cJSON **reply)
{
	cJSON *req = req_new("delete");
	int rc = -1;

	*reply = NULL;
	if (!req || (ws && !req_add_str(req, "workspace", ws)) ||
	    !req_add_str(req, "snapshot", a->snap) || (force && !req_add_bool(req, "force", true)))
		goto out;
	rc = client_call(ctx->socket_path, req, reply);
out:
	cJSON_Delete(req);
	return rc;
}

static int delete_render(const cJSON *reply, const struct delete_args *a)
{
	const cJSON *res = reply_result(reply);
	const char *snap;

	if (!res)
		return reply_print_error(reply, ERR_STYLE_ACTION);
	snap = json_str(res, "snapshot");
	if (a->fmt == FMT_JSON) {
		/* {"ws_id","snapshot"} */
		cJSON *o = cJSON_CreateObject();

		o = jo_str(o, "ws_id", json_str(res, "ws_id"));
		o = jo_str(o, "snapshot", snap ? snap : a->snap);
		return json_emit(o);
	}
	out_ok("✓ Deleted: %s", snap ? snap : a->snap);
	return CLI_EXIT_OK;
}

/* The daemon wants confirmation: ask on a terminal, else explain --force. */
static int delete_confirm(const struct cli_ctx *ctx, const struct delete_args *a, const char *ws,
			  const cJSON *first)
{
	cJSON *reply = NULL;
	int rc;

	if (!confirm_possible()) {
		out_err("Error [ConfirmationRequired]: %s", reply_error_message(first));
		out_hint("  Re-run with --force to delete without confirmation.");
		return CLI_EXIT_FAIL;
	}
	out_warn("⚠ %s", reply_error_message(first));
	if (!confirm_ask("Delete snapshot? [y/N]: ")) {
		out_line(stdout, OUT_PLAIN, "Cancelled.");
		return CLI_EXIT_OK;
	}
	/* A new connection: the first may have idled out while the user thought. */
	if (delete_call(ctx, a, ws, true, &reply) != 0)
		return CLI_EXIT_FAIL;
	rc = delete_render(reply, a);
	cJSON_Delete(reply);
	return rc;
}

static int delete_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct delete_args a = {0};
	char wsbuf[WS_PATH_MAX];
	const char *ws = NULL;
	cJSON *reply = NULL;
	int rc = delete_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.ws) {
		if ((rc = wsarg_resolve(cmd, a.ws, wsbuf, sizeof(wsbuf))) != 0)
			return rc;
		ws = wsbuf;
	}
	if (delete_call(ctx, &a, ws, a.force, &reply) != 0)
		return CLI_EXIT_FAIL;
	if (!a.force && !reply_result(reply) &&
	    strcmp(reply_error_code(reply), "ConfirmationRequired") == 0)
		rc = delete_confirm(ctx, &a, ws, reply);
	else
		rc = delete_render(reply, &a);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_delete = {
	.name = "delete",
	.about = "Delete a specific snapshot",
	.usage = "ws-ckpt delete [OPTIONS] --snapshot <SNAPSHOT>",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (optional; omit for global snapshot lookup)\n"
		"  -s, --snapshot <SNAPSHOT>    Snapshot ID\n"
		"      --force                  Skip confirmation prompt (required with --format json)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = delete_run,
};
