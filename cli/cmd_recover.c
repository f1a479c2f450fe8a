/* ws-ckpt recover: turn managed workspaces back into plain directories (undo init). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/confirm.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_ALL = 0x100, OPT_FORCE };

static const struct option recover_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"all", no_argument, NULL, OPT_ALL},
	{"force", no_argument, NULL, OPT_FORCE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct recover_args {
	const char *ws;
	bool all, force;
};

static int recover_parse(const struct cli_cmd *cmd, int argc, char **argv, struct recover_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:h", recover_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case OPT_ALL: a->all = true; break;
		case OPT_FORCE: a->force = true; break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (a->all && a->ws)
		return usage_error(cmd, "--workspace and --all cannot be used together");
	if (!a->all && !a->ws)
		return usage_error(cmd, "either --workspace/-w or --all must be specified");
	return -1;
}

/* Workspaces to recover: [{ws_id, path, snapshot_count}] from status. NULL on error (printed). */
static cJSON *fetch_workspaces(const struct cli_ctx *ctx, const char *ws)
{
	cJSON *req = req_new("status"), *reply = NULL, *list = NULL;
	const cJSON *res;

	if (!req || (ws && !req_add_str(req, "workspace", ws))) {
		cJSON_Delete(req);
		return NULL;
	}
	if (client_call(ctx->socket_path, req, &reply) == 0) {
		res = reply_result(reply);
		if (res)
			list = cJSON_DetachItemFromObjectCaseSensitive((cJSON *)res, "workspaces");
		else
			reply_print_error(reply, ERR_STYLE_GENERIC);
	}
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return list;
}

static bool confirmed(const struct recover_args *a, const cJSON *list)
{
	const cJSON *w;

	if (a->force)
		return true;
	if (!confirm_possible()) {
		out_err("Error: recover deletes every snapshot of the workspace; confirmation needed");
		out_hint("  Re-run with --force to recover without confirmation.");
		return false;
	}
	cJSON_ArrayForEach(w, list) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(w, "snapshot_count");
		out_line(stdout, OUT_PLAIN, "Workspace: %s (%d snapshots)", json_str(w, "path"),
			 cJSON_IsNumber(n) ? n->valueint : 0);
	}
	out_line(stdout, OUT_PLAIN,
		 "This will delete all snapshots and restore the workspace(s) to normal directories.");
	return confirm_ask("Proceed? [y/N] ");
}

static int recover_one(const struct cli_ctx *ctx, const char *ref, const char *path)
{
	cJSON *req = req_new("recover"), *reply = NULL;
	int rc = CLI_EXIT_FAIL;

	if (!req || !req_add_str(req, "workspace", ref))
		goto out;
	if (client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	if (reply_result(reply)) {
		out_ok("✓ Workspace recovered: %s", path);
		rc = CLI_EXIT_OK;
	} else {
		out_err("Error [%s] recovering %s: %s", reply_error_code(reply), path,
			reply_error_message(reply));
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

static int recover_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct recover_args a = {0};
	char ws[WS_PATH_MAX];
	const cJSON *w;
	cJSON *list;
	int rc = recover_parse(cmd, argc, argv, &a), failed = 0, n = 0;

	if (rc >= 0)
		return rc;
	if (a.ws && (rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	list = fetch_workspaces(ctx, a.ws ? ws : NULL);
	if (!list)
		return CLI_EXIT_FAIL;
	if (cJSON_GetArraySize(list) == 0) {
		out_line(stdout, OUT_PLAIN, "No workspaces to recover.");
		cJSON_Delete(list);
		return CLI_EXIT_OK;
	}
	if (!confirmed(&a, list)) {
		cJSON_Delete(list);
		return a.force || confirm_possible() ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	cJSON_ArrayForEach(w, list) {
		const char *id = json_str(w, "ws_id"), *path = json_str(w, "path");
		if (!id || !path)
			continue;
		n++;
		failed += recover_one(ctx, id, path) != CLI_EXIT_OK;
	}
	cJSON_Delete(list);
	if (a.all)
		out_line(stdout, OUT_PLAIN, "%d of %d workspace(s) recovered.", n - failed, n);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const struct cli_cmd cmd_recover = {
	.name = "recover",
	.about = "Recover workspace to a normal directory (undo init)",
	.usage = "ws-ckpt recover (--workspace <WORKSPACE> | --all) [--force]",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "      --all                    Recover all workspaces you may see\n"
		   "      --force                  Skip the confirmation prompt\n"
		   "  -h, --help                   Print help\n",
	.run = recover_run,
};

static const struct option unregister_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int unregister_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct opt_parser p;
	const char *wsarg = NULL;
	char ws[WS_PATH_MAX];
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:h", unregister_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		rc = c == 'w' ? opt_set_once(cmd, &wsarg, optarg, "--workspace") : CLI_EXIT_USAGE;
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!wsarg)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if ((rc = wsarg_resolve(cmd, wsarg, ws, sizeof(ws))) != 0)
		return rc;
	rc = CLI_EXIT_FAIL;
	req = req_new("unregister");
	if (!req || !req_add_str(req, "workspace", ws) || client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	if (res) {
		out_ok("✓ Workspace unregistered: %s (index archived as %s)", json_str(res, "ws_id"),
		       json_str(res, "archived_index"));
		rc = CLI_EXIT_OK;
	} else {
		rc = reply_print_error(reply, ERR_STYLE_GENERIC);
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_unregister = {
	.name = "unregister",
	.about = "Forget a workspace whose live data is gone (its index is archived)",
	.usage = "ws-ckpt unregister --workspace <WORKSPACE>",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "  -h, --help                   Print help\n",
	.run = unregister_run,
};
