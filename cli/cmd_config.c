/* ws-ckpt config / reload: show the daemon's effective configuration, change it, reload it. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/jsonbuild.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "cli/reply.h"
#include "common/config.h"

enum {
	OPT_ENABLE = 0x100, OPT_DISABLE, OPT_KEEP, OPT_INTERVAL, OPT_HEALTH, OPT_IMG_SIZE, OPT_IMG_PCT
};

static const struct option config_longopts[] = {
	{"enable-auto-cleanup", no_argument, NULL, OPT_ENABLE},
	{"disable-auto-cleanup", no_argument, NULL, OPT_DISABLE},
	{"auto-cleanup-keep", required_argument, NULL, OPT_KEEP},
	{"auto-cleanup-interval", required_argument, NULL, OPT_INTERVAL},
	{"health-check-interval", required_argument, NULL, OPT_HEALTH},
	{"img-size", required_argument, NULL, OPT_IMG_SIZE},
	{"img-max-percent", required_argument, NULL, OPT_IMG_PCT},
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const struct option reload_longopts[] = {
	OPT_FORMAT_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int parse_u64(const struct cli_cmd *cmd, const char *opt, const char *s, double *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v > (1ULL << 53))
		return usage_error(cmd, "invalid value '%s' for %s: expected a non-negative integer", s, opt);
	*out = (double)v;
	return 0;
}

/* "20" (count mode) or a duration like "30d" (age mode, units s/m/h/d/w). */
static int add_keep(const struct cli_cmd *cmd, cJSON *set, const char *s)
{
	size_t len = strlen(s), digits = strspn(s, "0123456789");

	if (len > 0 && digits == len && len < 11) {
		double v = strtod(s, NULL);
		if (v <= 4294967295.0)
			return cJSON_AddNumberToObject(set, "auto_cleanup_keep", v) ? 0 : CLI_EXIT_FAIL;
	}
	if (len >= 2 && len < 32 && digits == len - 1 && strchr("smhdwSMHDW", s[len - 1]))
		return cJSON_AddStringToObject(set, "auto_cleanup_keep", s) ? 0 : CLI_EXIT_FAIL;
	return usage_error(cmd, "invalid value '%s' for --auto-cleanup-keep: expected a count (e.g. 20) or a duration (e.g. 30d; units s/m/h/d/w)", s);
}

static int add_option(const struct cli_cmd *cmd, cJSON *set, int c, const char *arg)
{
	static const char *const keys[] = { [OPT_INTERVAL - OPT_ENABLE] = "auto_cleanup_interval_secs",
					    [OPT_HEALTH - OPT_ENABLE] = "health_check_interval_secs",
					    [OPT_IMG_SIZE - OPT_ENABLE] = "img_size" };
	double v = 0;
	int rc;

	switch (c) {
	case OPT_ENABLE:
	case OPT_DISABLE:
		if (cJSON_GetObjectItemCaseSensitive(set, "auto_cleanup"))
			return usage_error(cmd, "--enable-auto-cleanup and --disable-auto-cleanup conflict");
		return cJSON_AddBoolToObject(set, "auto_cleanup", c == OPT_ENABLE) ? 0 : CLI_EXIT_FAIL;
	case OPT_KEEP:
		return add_keep(cmd, set, arg);
	case OPT_IMG_PCT: {
		char *end;
		v = strtod(arg, &end);
		if (*end || end == arg || !isfinite(v) || v < 0 || v > 100)
			return usage_error(cmd, "invalid value '%s' for --img-max-percent: expected 0..100", arg);
		return cJSON_AddNumberToObject(set, "img_max_percent", v) ? 0 : CLI_EXIT_FAIL;
	}
	default:
		if ((rc = parse_u64(cmd, "option", arg, &v)) != 0)
			return rc;
		return cJSON_AddNumberToObject(set, keys[c - OPT_ENABLE], v) ? 0 : CLI_EXIT_FAIL;
	}
}

static void show_value(const cJSON *vals, const char *label, const char *key, const char *text)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(vals, key);
	bool set = o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "set"));

	out_line(stdout, OUT_PLAIN, "  %-24s %s%s", label, text, set ? "" : " (default)");
}

static const cJSON *val(const cJSON *vals, const char *key)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(vals, key);
	return o ? cJSON_GetObjectItemCaseSensitive(o, "value") : NULL;
}

static double num(const cJSON *vals, const char *key)
{
	const cJSON *v = val(vals, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void render_view(const cJSON *res)
{
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(res, "values");
	const cJSON *keep = val(vals, "auto_cleanup_keep");
	const char *k = cJSON_IsString(keep) ? keep->valuestring : "?";
	char buf[256];

	out_line(stdout, OUT_BOLD, "Daemon Configuration");
	out_line(stdout, OUT_PLAIN, "  %-24s %s", "Config file:", json_str(res, "config_file"));
	show_value(vals, "Mount path:", "mount_path", json_str(val(vals, "mount_path") ? cJSON_GetObjectItemCaseSensitive(vals, "mount_path") : NULL, "value"));
	show_value(vals, "Socket path:", "socket_path", json_str(cJSON_GetObjectItemCaseSensitive(vals, "socket_path"), "value"));
	show_value(vals, "Auto-cleanup:", "auto_cleanup", cJSON_IsTrue(val(vals, "auto_cleanup")) ? "enabled" : "disabled");
	if (k[strspn(k, "0123456789")] == '\0')
		snprintf(buf, sizeof(buf), "%s (count mode)", k);
	else
		snprintf(buf, sizeof(buf), "\"%s\" (age mode)", k);
	show_value(vals, "Auto-cleanup keep:", "auto_cleanup_keep", buf);
	snprintf(buf, sizeof(buf), "%.0fs (%.0fm)", num(vals, "auto_cleanup_interval_secs"),
		 floor(num(vals, "auto_cleanup_interval_secs") / 60));
	show_value(vals, "Auto-cleanup interval:", "auto_cleanup_interval_secs", buf);
	snprintf(buf, sizeof(buf), "%.0fs (%.0fm)", num(vals, "health_check_interval_secs"),
		 floor(num(vals, "health_check_interval_secs") / 60));
	show_value(vals, "Health-check interval:", "health_check_interval_secs", buf);
	snprintf(buf, sizeof(buf), "%.0f GB", num(vals, "img_size"));
	show_value(vals, "Image size:", "img_size", buf);
	snprintf(buf, sizeof(buf), "%g%%", num(vals, "img_max_percent"));
	show_value(vals, "Image max percent:", "img_max_percent", buf);
}

/* Compare the daemon's runtime values with what the file says now. */
static void warn_if_stale(const cJSON *res)
{
	const cJSON *vals = cJSON_GetObjectItemCaseSensitive(res, "values");
	const char *file = json_str(res, "config_file");
	struct config f;
	char err[512];

	if (!file || config_load(file, &f, err, sizeof(err)) < 0)
		return;
	if (f.auto_cleanup != cJSON_IsTrue(val(vals, "auto_cleanup")) ||
	    (double)f.auto_cleanup_interval_secs != num(vals, "auto_cleanup_interval_secs") ||
	    (double)f.health_check_interval_secs != num(vals, "health_check_interval_secs") ||
	    !cJSON_IsString(val(vals, "auto_cleanup_keep")) ||
	    strcmp(f.auto_cleanup_keep, val(vals, "auto_cleanup_keep")->valuestring) != 0)
		out_warn("⚠ The daemon's running configuration differs from %s; run 'ws-ckpt reload' to apply the file.", file);
}

/* config: {"config_file","values":{KEY:{"value","set"}}}; config_set: {"changed","restart_required"}. */
static int config_json(const cJSON *res)
{
	return json_emit(cJSON_Duplicate(res, 1));
}

static int call_and_render(const struct cli_ctx *ctx, cJSON *req, bool update,
			   enum out_format fmt)
{
	cJSON *reply = NULL;
	const cJSON *res, *rr;
	int rc = CLI_EXIT_FAIL;

	if (client_call(ctx->socket_path, req, &reply) != 0)
		goto out;
	res = reply_result(reply);
	if (!res) {
		rc = reply_print_error(reply, ERR_STYLE_GENERIC);
		goto out;
	}
	rc = CLI_EXIT_OK;
	if (fmt == FMT_JSON) {
		rc = config_json(res);
		if (!update)
			warn_if_stale(res);
		goto out;
	}
	if (!update) {
		render_view(res);
		warn_if_stale(res);
		goto out;
	}
	out_ok("✓ Configuration updated");
	rr = cJSON_GetObjectItemCaseSensitive(res, "restart_required");
	if (cJSON_GetArraySize(rr) > 0)
		out_warn("⚠ Image size settings take effect when the daemon restarts.");
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

static int config_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct opt_parser p;
	cJSON *set = cJSON_CreateObject(), *req;
	enum out_format fmt = FMT_UNSET;
	int c, rc = 0;

	if (!set)
		return CLI_EXIT_FAIL;
	opt_begin(&p, cmd, "+:h", config_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			cJSON_Delete(set);
			return CLI_EXIT_OK;
		}
		if (c == OPT_VAL_FORMAT || c == OPT_VAL_JSON)
			rc = opt_format(cmd, &fmt, c, optarg);
		else if (c >= OPT_ENABLE && c <= OPT_IMG_PCT)
			rc = add_option(cmd, set, c, optarg);
		else
			rc = CLI_EXIT_USAGE;
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0) {
		cJSON_Delete(set);
		return rc;
	}
	if (cJSON_GetArraySize(set) == 0) {
		cJSON_Delete(set);
		req = req_new("config");
		return req ? call_and_render(ctx, req, false, fmt) : CLI_EXIT_FAIL;
	}
	req = req_new("config_set");
	if (!req || !cJSON_AddItemToObject(req, "set", set)) {
		cJSON_Delete(req);
		cJSON_Delete(set);
		return CLI_EXIT_FAIL;
	}
	return call_and_render(ctx, req, true, fmt);
}

static int reload_run(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct opt_parser p;
	cJSON *req, *reply = NULL;
	enum out_format fmt = FMT_UNSET;
	int c, rc = 0;

	opt_begin(&p, cmd, "+:h", reload_longopts, argc, argv);
	while (rc == 0 && (c = opt_next(&p)) != -1) {
		if (c == 'h') {
			cmd_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		if (c == OPT_VAL_FORMAT || c == OPT_VAL_JSON)
			rc = opt_format(cmd, &fmt, c, optarg);
		else
			rc = CLI_EXIT_USAGE;
	}
	if (rc != 0 || (rc = opt_end(&p)) != 0)
		return rc;
	req = req_new("reload");
	if (!req || client_call(ctx->socket_path, req, &reply) != 0) {
		cJSON_Delete(req);
		return CLI_EXIT_FAIL;
	}
	if (reply_result(reply) && fmt == FMT_JSON) {
		/* {"reloaded":true} */
		rc = json_emit(jo_bool(cJSON_CreateObject(), "reloaded", true));
	} else if (reply_result(reply)) {
		out_ok("✓ Daemon reloaded configuration");
		rc = CLI_EXIT_OK;
	} else {
		json_error_daemon(reply);
		out_err("Error: Daemon reload failed [%s]: %s", reply_error_code(reply),
			reply_error_message(reply));
		rc = CLI_EXIT_FAIL;
	}
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}

const struct cli_cmd cmd_config = {
	.name = "config",
	.about = "View or update daemon configuration",
	.usage = "ws-ckpt config [OPTIONS]",
	.options =
		"      --enable-auto-cleanup          Enable automatic cleanup\n"
		"      --disable-auto-cleanup         Disable automatic cleanup\n"
		"      --auto-cleanup-keep <NUM|DURATION>  Keep N snapshots (count) or newer than e.g. 30d (age)\n"
		"      --auto-cleanup-interval <SECONDS>   Seconds between automatic cleanups\n"
		"      --health-check-interval <SECONDS>   Seconds between health checks\n"
		"      --img-size <GB>                 Loop image size cap (applies at restart)\n"
		"      --img-max-percent <PERCENT>     Loop image share of its filesystem (applies at restart)\n"
		"      --format <FORMAT>              Output format: table or json (default: table)\n"
		"      --json                         Same as --format json\n"
		"  -h, --help                         Print help\n",
	.run = config_run,
};

const struct cli_cmd cmd_reload = {
	.name = "reload",
	.about = "Make the daemon re-read its configuration file",
	.usage = "ws-ckpt reload [OPTIONS]",
	.options = "      --format <FORMAT>  Output format: table or json (default: table)\n"
		   "      --json             Same as --format json\n"
		   "  -h, --help             Print help\n",
	.run = reload_run,
};
