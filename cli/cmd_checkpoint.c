/* ws-ckpt checkpoint: take a read-only snapshot of a workspace. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_METADATA = 0x100, OPT_PIN, OPT_SKIP };

static const struct option checkpoint_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"id", required_argument, NULL, 'i'},
	{"message", required_argument, NULL, 'm'},
	{"metadata", required_argument, NULL, OPT_METADATA},
	{"pin", no_argument, NULL, OPT_PIN},
	{"skip-unchanged", no_argument, NULL, OPT_SKIP},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct checkpoint_args {
	const char *ws, *id, *message, *metadata;
	bool pin, skip_unchanged;
	enum out_format fmt;
};

/* Returns -1 to go on, else an exit code (help printed or usage error). */
static int checkpoint_parse(const struct cli_cmd *cmd, int argc, char **argv,
			    struct checkpoint_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:i:m:h", checkpoint_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case 'i': rc = opt_set_once(cmd, &a->id, optarg, "--id"); break;
		case 'm': rc = opt_set_once(cmd, &a->message, optarg, "--message"); break;
		case OPT_METADATA: rc = opt_set_once(cmd, &a->metadata, optarg, "--metadata"); break;
		case OPT_PIN: a->pin = true; break;
		case OPT_SKIP: a->skip_unchanged = true; break;
		case OPT_VAL_FORMAT:
		case OPT_VAL_JSON: rc = opt_format(cmd, &a->fmt, c, optarg); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	if (!a->ws)
		return opt_missing(cmd, "--workspace <WORKSPACE>");
	if (!a->id)
		return opt_missing(cmd, "--id <ID>");
	if ((rc = opt_check_snapshot_id(cmd, a->id, "--id")) != 0)
		return rc;
	return -1;
}

/* Parse --metadata into a JSON value; NULL (printed) when it is not valid JSON. */
static cJSON *metadata_parse(const char *text)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithOpts(text, &end, 1);

	if (v)
		return v;
	if (!end || end < text || end > text + strlen(text))
		end = text;
	/* cJSON reports where it gave up, which is near, not always at, the mistake. */
	if (*end == '\0')
		out_err("Error: invalid JSON in --metadata: parse error at end of input (byte %zu)",
			(size_t)(end - text));
	else
		out_err("Error: invalid JSON in --metadata: parse error near byte %zu ('%.20s')",
			(size_t)(end - text), end);
	return NULL;
}

static cJSON *checkpoint_request(const struct checkpoint_args *a, const char *ws)
{
	cJSON *req = req_new("checkpoint"), *meta;

	if (!req)
		return NULL;
	if (!req_add_str(req, "workspace", ws) || !req_add_str(req, "snapshot", a->id) ||
	    (a->message && !req_add_str(req, "message", a->message)) ||
	    (a->pin && !req_add_bool(req, "pin", true)) ||
	    (a->skip_unchanged && !req_add_bool(req, "skip_unchanged", true)))
		goto fail;
	if (a->metadata) {
		meta = metadata_parse(a->metadata);
		if (!meta)
			goto fail;
		if (!cJSON_AddItemToObject(req, "metadata", meta)) {
			cJSON_Delete(meta);
			out_err("Error: out of memory");
			goto fail;
		}
	}
	return req;
fail:
	cJSON_Delete(req);
	return NULL;
}

/* {"ws_id","workspace","snapshot"|null,"skipped","reason"|null,"pinned","initialized"} */
static int checkpoint_json(const cJSON *res, const struct checkpoint_args *a, const char *ws)
{
	const char *snap = json_str(res, "snapshot");
	bool skipped = json_bool(res, "skipped", false);
	cJSON *o = cJSON_CreateObject();

	o = jo_str(o, "ws_id", json_str(res, "ws_id"));
	o = jo_str(o, "workspace", ws);
	o = jo_str(o, "snapshot", skipped ? NULL : (snap ? snap : a->id));
	o = jo_bool(o, "skipped", skipped);
	o = jo_str(o, "reason", skipped ? json_str(res, "reason") : NULL);
	o = jo_bool(o, "pinned", a->pin && !skipped);
	o = jo_bool(o, "initialized", json_bool(res, "initialized", false));
	return json_emit(o);
}

static int checkpoint_render(const cJSON *res, const struct checkpoint_args *a, const char *ws)
{
	const char *ws_id = json_str(res, "ws_id");
	const char *snap = json_str(res, "snapshot");

	if (a->fmt == FMT_JSON)
		return checkpoint_json(res, a, ws);
	if (json_bool(res, "initialized", false))
		out_ok("✓ Workspace initialized: %s", ws_id ? ws_id : ws);
	if (json_bool(res, "skipped", false)) {
		const char *why = json_str(res, "reason");
		if (why && strcmp(why, "unchanged") == 0)
			out_line(stdout, OUT_PLAIN,
				 "skipped: unchanged (nothing changed since the last checkpoint)");
		else
			out_warn("⚠ Empty workspace, no snapshot created.");
		return CLI_EXIT_OK;
	}
	out_ok("✓ Checkpoint created: %s", snap ? snap : a->id);
	return CLI_EXIT_OK;
}

static int checkpoint_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
			  char **argv)
{
	struct checkpoint_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req, *reply = NULL;
	const cJSON *res;
	int rc = checkpoint_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if ((rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = checkpoint_request(&a, ws);
	if (!req)
		return CLI_EXIT_FAIL;
	rc = CLI_EXIT_FAIL;
	if (client_call(ctx->socket_path, req, &reply) == 0) {
		res = reply_result(reply);
		rc = res ? checkpoint_render(res, &a, ws) : reply_print_error(reply, ERR_STYLE_ACTION);
	}
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_checkpoint = {
	.name = "checkpoint",
	.about = "Create a checkpoint (readonly snapshot)",
	.usage = "ws-ckpt checkpoint [OPTIONS] --workspace <WORKSPACE> --id <ID>",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (absolute path, relative path, or workspace ID)\n"
		"  -i, --id <ID>                Snapshot ID (must be unique within the workspace;\n"
		"                               1-128 bytes of [A-Za-z0-9._:@+-], not starting with '.' or '-')\n"
		"  -m, --message <MESSAGE>      Commit message describing the checkpoint\n"
		"      --metadata <METADATA>    Additional metadata as JSON string\n"
		"      --pin                    Pin the snapshot (cleanup never removes it)\n"
		"      --skip-unchanged         Take no snapshot when nothing changed since the last one\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = checkpoint_run,
};
