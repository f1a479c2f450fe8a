/* ws-ckpt recover: turn managed workspaces back into plain directories (undo init). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

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

enum { OPT_ALL = 0x100, OPT_FORCE };

static const struct option recover_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"all", no_argument, NULL, OPT_ALL},
	{"force", no_argument, NULL, OPT_FORCE},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct recover_args {
	const char *ws;
	bool all, force;
	enum out_format fmt;
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
		case OPT_VAL_FORMAT:
		case OPT_VAL_JSON: rc = opt_format(cmd, &a->fmt, c, optarg); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (a->all && a->ws)
		return usage_error(cmd, "--workspace and --all cannot be used together");
	if (!a->all && !a->ws)
		return usage_error(cmd, "either --workspace/-w or --all must be specified");
	if ((rc = opt_json_needs(cmd, a->fmt, a->force, "--force")) != 0)
		return rc;
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

/* One entry of the JSON "results": {"ws_id","workspace","ok","error"?:{"code","message"}}. */
static void result_add(cJSON *results, const char *id, const char *path, const cJSON *reply)
{
	cJSON *o = cJSON_CreateObject(), *err = NULL;
	bool ok = reply && reply_result(reply);

	o = jo_str(o, "ws_id", id);
	o = jo_str(o, "workspace", path);
	o = jo_bool(o, "ok", ok);
	if (!ok) {
		err = cJSON_CreateObject();
		err = jo_str(err, "code", reply ? reply_error_code(reply) : JSON_CLIENT_ERROR);
		err = jo_str(err, "message", reply ? reply_error_message(reply) :
				 "no reply from the daemon (see stderr)");
		o = jo_dup(o, "error", err);
		cJSON_Delete(err);
	}
	if (!o || !cJSON_AddItemToArray(results, o)) {
		cJSON_Delete(o);
		out_err("Error: out of memory");
	}
}

/* results: NULL in table mode, else the JSON array this outcome is added to. */
static int recover_one(const struct cli_ctx *ctx, const char *ref, const char *path,
		       cJSON *results)
{
	cJSON *req = req_new("recover"), *reply = NULL;
	int rc = CLI_EXIT_FAIL;

	if (!req || !req_add_str(req, "workspace", ref))
		goto out;
	if (client_call(ctx->socket_path, req, &reply) != 0) {
		reply = NULL;
		goto out;
	}
	if (reply_result(reply)) {
		if (!results)
			out_ok("✓ Workspace recovered: %s", path);
		rc = CLI_EXIT_OK;
	} else {
		out_err("Error [%s] recovering %s: %s", reply_error_code(reply), path,
			reply_error_message(reply));
	}
out:
	if (results)
		result_add(results, ref, path, reply);
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

/* {"recovered":N,"failed":M,"results":[...]} */
static int recover_json(cJSON *results, int n, int failed)
{
	cJSON *o = cJSON_CreateObject();

	o = jo_num(o, "recovered", n - failed);
	o = jo_num(o, "failed", failed);
	if (o && !cJSON_AddItemToObject(o, "results", results)) {
		cJSON_Delete(o);
		o = NULL;
	}
	if (!o)
		cJSON_Delete(results);
	json_emit(o);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int recover_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct recover_args a = {0};
	char ws[WS_PATH_MAX];
	const cJSON *w;
	cJSON *list, *results = NULL;
	int rc = recover_parse(cmd, argc, argv, &a), failed = 0, n = 0;

	if (rc >= 0)
		return rc;
	if (a.ws && (rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	list = fetch_workspaces(ctx, a.ws ? ws : NULL);
	if (!list)
		return CLI_EXIT_FAIL;
	if (a.fmt == FMT_JSON && !(results = cJSON_CreateArray())) {
		out_err("Error: out of memory");
		cJSON_Delete(list);
		return CLI_EXIT_FAIL;
	}
	if (cJSON_GetArraySize(list) == 0 && results) {
		cJSON_Delete(list);
		return recover_json(results, 0, 0);
	}
	if (cJSON_GetArraySize(list) == 0) {
		out_line(stdout, OUT_PLAIN, "No workspaces to recover.");
		cJSON_Delete(list);
		return CLI_EXIT_OK;
	}
	if (!confirmed(&a, list)) {
		cJSON_Delete(list);
		cJSON_Delete(results);
		return a.force || confirm_possible() ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	}
	cJSON_ArrayForEach(w, list) {
		const char *id = json_str(w, "ws_id"), *path = json_str(w, "path");
		if (!id || !path)
			continue;
		n++;
		failed += recover_one(ctx, id, path, results) != CLI_EXIT_OK;
	}
	cJSON_Delete(list);
	if (results)
		return recover_json(results, n, failed);
	if (a.all)
		out_line(stdout, OUT_PLAIN, "%d of %d workspace(s) recovered.", n - failed, n);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const struct cli_cmd cmd_recover = {
	.name = "recover",
	.about = "Recover workspace to a normal directory (undo init)",
	.usage = "ws-ckpt recover [OPTIONS] (--workspace <WORKSPACE> | --all) [--force]",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "      --all                    Recover all workspaces you may see\n"
		   "      --force                  Skip the confirmation prompt (required with --format json)\n"
		   "      --format <FORMAT>        Output format: table or json (default: table)\n"
		   "      --json                   Same as --format json\n"
		   "  -h, --help                   Print help\n",
	.run = recover_run,
};

static const struct option unregister_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* {"ws_id","workspace","archived_index"} */
static int unregister_json(const cJSON *res, const char *ws)
{
	const char *path = json_str(res, "workspace_path");
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	o = jo_str(o, "workspace", path ? path : ws);
	o = jo_str(o, "archived_index", json_str(res, "archived_index"));
	return json_emit(o);
}

static int unregister_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct opt_parser p;
	const char *wsarg = NULL;
	char ws[WS_PATH_MAX];
	cJSON *req = NULL, *reply = NULL;
	const cJSON *res;
	enum out_format fmt = FMT_UNSET;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:h", unregister_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		if (c == OPT_VAL_FORMAT || c == OPT_VAL_JSON)
			rc = opt_format(cmd, &fmt, c, optarg);
		else
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
	if (res && fmt == FMT_JSON) {
		rc = unregister_json(res, ws);
	} else if (res) {
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
	.usage = "ws-ckpt unregister [OPTIONS] --workspace <WORKSPACE>",
	.options = "  -w, --workspace <WORKSPACE>  Workspace path or ID\n"
		   "      --format <FORMAT>        Output format: table or json (default: table)\n"
		   "      --json                   Same as --format json\n"
		   "  -h, --help                   Print help\n",
	.run = unregister_run,
};
