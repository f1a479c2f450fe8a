/* ws-ckpt list: the snapshots of one workspace, or of every workspace the caller may see. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "cli/wsarg.h"
#include "common/timeutil.h"
#include "common/validate.h"

enum { OPT_FORMAT = 0x100, OPT_JSON, OPT_UTC };

/* --utc: ISO-8601 UTC times ("2026-05-28T03:04:05Z") instead of local time. */
static bool utc_times;

#define MISSING_TAG " [MISSING]"
#define DATE_COLS 19 /* "YYYY-MM-DD HH:MM:SS" (one more with --utc's trailing Z) */

static const struct option list_longopts[] = {
	{"workspace", required_argument, NULL, 'w'},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, OPT_JSON},
	{"utc", no_argument, NULL, OPT_UTC},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct list_args {
	const char *ws;
	enum out_format fmt;
};

/* Returns -1 to go on, else an exit code (help printed or usage error). */
static int list_parse(const struct cli_cmd *cmd, int argc, char **argv, struct list_args *a)
{
	struct opt_parser p;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:w:h", list_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		case 'w': rc = opt_set_once(cmd, &a->ws, optarg, "--workspace"); break;
		case OPT_FORMAT: rc = opt_set_format(cmd, &a->fmt, optarg); break;
		case OPT_JSON: rc = opt_set_format(cmd, &a->fmt, "json"); break;
		case OPT_UTC: utc_times = true; break;
		default: return CLI_EXIT_USAGE;
		}
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	return -1;
}

/* ---- table ---------------------------------------------------------------- */

/* "CREATED (UTC+8)", "CREATED (UTC-3)", "CREATED (UTC+5:30)": the client's offset now. */
static void created_label(char *out, size_t outsz)
{
	if (utc_times) {
		snprintf(out, outsz, "CREATED (UTC)");
		return;
	}
	time_t now = time(NULL);
	struct tm tm;
	long off = 0, h, m;

	if (localtime_r(&now, &tm))
		off = tm.tm_gmtoff;
	h = labs(off) / 3600;
	m = labs(off) % 3600 / 60;
	if (m == 0)
		snprintf(out, outsz, "CREATED (UTC%c%ld)", off < 0 ? '-' : '+', h);
	else
		snprintf(out, outsz, "CREATED (UTC%c%ld:%02ld)", off < 0 ? '-' : '+', h, m);
}

/* created_at in local time "%Y-%m-%d %H:%M:%S"; the raw text if it does not parse. */
static void created_local(const char *rfc, char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;

	if (utc_times) {
		if (rfc && rfc3339_parse(rfc, &ts) && gmtime_r(&ts.tv_sec, &tm) &&
		    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
			return;
	} else if (rfc && rfc3339_parse(rfc, &ts) && localtime_r(&ts.tv_sec, &tm) &&
		   strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm) > 0) {
		return;
	}
	snprintf(out, outsz, "%s", rfc ? rfc : "-");
}

struct entry_view {
	const char *ws, *id, *message, *created_at;
	bool missing;
};

static void entry_view(const cJSON *e, struct entry_view *v)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "meta");

	v->ws = json_str(e, "workspace");
	v->id = json_str(e, "id");
	v->message = json_str(meta, "message");
	v->created_at = json_str(meta, "created_at");
	v->missing = json_bool(meta, "missing", false);
	if (!v->ws)
		v->ws = "-";
	if (!v->id)
		v->id = "-";
	if (!v->message)
		v->message = "-";
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

static void list_table(const cJSON *snaps)
{
	size_t w_ws = strlen("WORKSPACE"), w_snap = strlen("SNAPSHOT"), w_date, n = 0;
	char label[48], date[RFC3339_MAX + 8];
	const cJSON *e;
	struct entry_view v;

	/* Only the table shows local times: other commands skip reading the zone file. */
	tzset();
	created_label(label, sizeof(label));
	w_date = max_size(DATE_COLS + utc_times, strlen(label));
	cJSON_ArrayForEach(e, snaps) {
		entry_view(e, &v);
		w_ws = max_size(w_ws, text_width(v.ws));
		w_snap = max_size(w_snap, text_width(v.id) + (v.missing ? strlen(MISSING_TAG) : 0));
		n++;
	}
	if (n == 0) {
		puts("No snapshots found.");
		return;
	}
	text_put_padded(stdout, "WORKSPACE", w_ws);
	fputc(' ', stdout);
	text_put_padded(stdout, "SNAPSHOT", w_snap);
	fputc(' ', stdout);
	text_put_padded(stdout, label, w_date);
	fputs(" MESSAGE\n", stdout);
	for (size_t i = 0; i < w_ws + w_snap + w_date + strlen("MESSAGE") + 3; i++)
		fputc('-', stdout);
	fputc('\n', stdout);
	cJSON_ArrayForEach(e, snaps) {
		entry_view(e, &v);
		created_local(v.created_at, date, sizeof(date));
		text_put_padded(stdout, v.ws, w_ws);
		fputc(' ', stdout);
		text_put(stdout, v.id);
		text_put_padded(stdout, v.missing ? MISSING_TAG : "",
				w_snap - text_width(v.id));
		fputc(' ', stdout);
		text_put_padded(stdout, date, w_date);
		fputc(' ', stdout);
		text_put(stdout, v.message);
		fputc('\n', stdout);
	}
	printf("\nTotal: %zu snapshot(s)\n", n);
}

/* ---- command -------------------------------------------------------------- */

static int list_render(const cJSON *res, enum out_format fmt)
{
	const cJSON *snaps = cJSON_GetObjectItemCaseSensitive(res, "snapshots");

	if (!cJSON_IsArray(snaps)) {
		out_err("Error: Malformed reply from ws-ckpt daemon: \"snapshots\" is not an array");
		return CLI_EXIT_FAIL;
	}
	if (fmt == FMT_JSON)
		json_print_doc(snaps);
	else
		list_table(snaps);
	return CLI_EXIT_OK;
}

static int list_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct list_args a = {0};
	char ws[WS_PATH_MAX];
	cJSON *req;
	int rc = list_parse(cmd, argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.ws && (rc = wsarg_resolve(cmd, a.ws, ws, sizeof(ws))) != 0)
		return rc;
	req = req_new("list");
	if (req && ((a.ws && !req_add_str(req, "workspace", ws)))) {
		cJSON_Delete(req);
		req = NULL;
	}
	return client_render(ctx->socket_path, req, list_render, a.fmt, ERR_STYLE_GENERIC);
}

const struct cli_cmd cmd_list = {
	.name = "list",
	.about = "List all snapshots for a workspace (or all workspaces if omitted)",
	.usage = "ws-ckpt list [OPTIONS]",
	.options =
		"  -w, --workspace <WORKSPACE>  Workspace path or ID (optional; omit to list every workspace)\n"
		"      --format <FORMAT>        Output format: table or json (default: table)\n"
		"      --json                   Same as --format json\n"
		"      --utc                    Show times as ISO-8601 UTC (2026-05-28T03:04:05Z)\n"
		"  -h, --help                   Print help\n",
	.run = list_run,
};
