/* ws-ckpt status: daemon facts and the workspaces the caller may see. */
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/validate.h"

enum { OPT_FORMAT = 0x100, OPT_JSON };

#define COL_WS 25
#define COL_PATH 40
#define COL_OWNER 10
#define GIB (1024.0 * 1024.0 * 1024.0)

static const struct option status_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct status_args {
	const char *ws;
	enum out_format fmt;
};

/* Returns -1 to go on, else an exit code (help printed or usage error). */
static int status_parse(const struct cli_cmd *cmd, int argc, char **argv, struct status_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:h", status_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case OPT_FORMAT: rc = opt_set_format(cmd, &a->fmt, optarg); break;
		case OPT_JSON: rc = opt_set_format(cmd, &a->fmt, "json"); break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	return -1;
}

/* ---- table ---------------------------------------------------------------- */

static void status_daemon(const cJSON *res)
{
	const char *s;

	out_line(stdout, OUT_BOLD, "Daemon Status");
	if ((s = json_str(res, "daemon_version"))) {
		out_line(stdout, OUT_PLAIN, "  Version: %s (cli %s)", s, WSCKPT_VERSION);
		if (strcmp(s, WSCKPT_VERSION) != 0)
			out_warn("⚠ Version mismatch: ws-ckpt (cli) %s, ws-ckptd (daemon) %s.", WSCKPT_VERSION, s);
	}
	printf("  Uptime: %" PRIu64 " seconds\n", json_u64(res, "uptime_secs", 0));
	if ((s = json_str(res, "backend")))
		out_line(stdout, OUT_PLAIN, "  Backend: %s", s);
	if ((s = json_str(res, "mount_path")))
		out_line(stdout, OUT_PLAIN, "  Mount: %s", s);
	if ((s = json_str(res, "img_path")))
		out_line(stdout, OUT_PLAIN, "  Image: %s", s);
	printf("  Filesystem: %.2f GB used / %.2f GB total\n",
	       (double)json_u64(res, "fs_used_bytes", 0) / GIB,
	       (double)json_u64(res, "fs_total_bytes", 0) / GIB);
}

static void owner_name(const cJSON *w, char *out, size_t outsz)
{
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(w, "owner_uid");
	const struct passwd *pw;
	uint64_t u;

	if (!cJSON_IsNumber(uid)) {
		snprintf(out, outsz, "-");
		return;
	}
	u = json_u64(w, "owner_uid", UINT64_MAX);
	pw = u <= (uid_t)-1 ? getpwuid((uid_t)u) : NULL;
	if (pw && pw->pw_name)
		snprintf(out, outsz, "%s", pw->pw_name);
	else
		snprintf(out, outsz, "%" PRIu64, u);
}

static void status_row(const cJSON *w)
{
	const char *ws_id = json_str(w, "ws_id"), *path = json_str(w, "path");
	uint64_t missing = json_u64(w, "missing_count", 0);
	char owner[64];

	owner_name(w, owner, sizeof(owner));
	fputs("  ", stdout);
	text_put_padded(stdout, ws_id ? ws_id : "-", COL_WS);
	fputc(' ', stdout);
	text_put_padded(stdout, path ? path : "-", COL_PATH);
	fputc(' ', stdout);
	text_put_padded(stdout, owner, COL_OWNER);
	fputc(' ', stdout);
	printf("%" PRIu64, json_u64(w, "snapshot_count", 0));
	if (missing > 0)
		printf(" (%" PRIu64 " missing)", missing);
	fputc('\n', stdout);
}

static void status_workspaces(const cJSON *res)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(res, "workspaces"), *w;
	int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;

	fputc('\n', stdout);
	if (n == 0) {
		puts("  No workspaces registered.");
		return;
	}
	printf("  %-*s %-*s %-*s %s\n  ", COL_WS, "WORKSPACE", COL_PATH, "PATH", COL_OWNER,
	       "OWNER", "SNAPSHOTS");
	for (size_t i = 0; i < COL_WS + COL_PATH + COL_OWNER + strlen("SNAPSHOTS") + 3; i++)
		fputc('-', stdout);
	fputc('\n', stdout);
	cJSON_ArrayForEach(w, list) {
		status_row(w);
	}
	printf("\n  Total: %d workspace(s)\n", n);
}

/* ---- command -------------------------------------------------------------- */

static int status_render(const cJSON *res, enum out_format fmt)
{
	if (fmt == FMT_JSON) {
		json_print_doc(res);
		return CLI_EXIT_OK;
	}
	status_daemon(res);
	status_workspaces(res);
	return CLI_EXIT_OK;
}

static int status_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct status_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req;
	int rc = status_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.ws && (rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = req_new("status");
	if (req && ((a.ws && !req_add_str(req, "workspace", ws)))) {
		cJSON_Delete(req);
		req = NULL;
	}
	return client_render(ctx->socket_path, req, status_render, a.fmt, ERR_STYLE_GENERIC);
}

const struct cli_cmd cmd_status = {
	.name = "status",
	.about = "Show daemon and workspace status",
	.usage = "ws-ckpt status [OPTIONS]",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (optional filter)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"  -h, --help                   Print help\n",
	.run = status_run,
};
