/* What a reply says, and how the CLI tells the user about daemon errors. */
#include "cli/reply.h"

#include <math.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/jsonmode.h"
#include "cli/output.h"

const cJSON *reply_result(const cJSON *reply)
{
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(reply, "result");
}

static const cJSON *reply_error(const cJSON *reply)
{
	return cJSON_GetObjectItemCaseSensitive(reply, "error");
}

const char *reply_error_code(const cJSON *reply)
{
	const char *s = json_str(reply_error(reply), "code");

	return s ? s : "";
}

const char *reply_error_message(const cJSON *reply)
{
	const char *s = json_str(reply_error(reply), "message");

	return s ? s : "";
}

/* Advice the Rust ws-ckpt prints under these errors (its "✗" two-line forms). */
static const struct {
	const char *code;
	const char *advice;
} action_advice[] = {
	{"SnapshotAlreadyExists", "Please use a different snapshot ID."},
	{"SnapshotNotFound", "Use 'ws-ckpt list' to view available snapshots."},
	{"WorkspaceNotFound",
	 "Use 'ws-ckpt init' to initialize, or 'ws-ckpt list' to view workspaces."},
	{"DiskSpaceInsufficient",
	 "Use 'ws-ckpt delete' to remove old snapshots, or free disk space."},
};

static const char *advice_for(const char *code)
{
	for (size_t i = 0; i < sizeof(action_advice) / sizeof(action_advice[0]); i++) {
		if (strcmp(action_advice[i].code, code) == 0)
			return action_advice[i].advice;
	}
	return NULL;
}

int reply_print_error(const cJSON *reply, enum err_style style)
{
	const char *code = reply_error_code(reply);
	const char *msg = reply_error_message(reply);
	const char *hint = json_str(reply_error(reply), "hint");
	const char *advice = style == ERR_STYLE_ACTION ? advice_for(code) : NULL;

	json_error_daemon(reply);
	if (advice) {
		out_err("✗ %s", msg);
		out_hint("  %s", advice);
	} else {
		out_err("Error [%s]: %s", code, msg);
	}
	/* The daemon's hint often says what our built-in advice says: print it once. */
	if (hint && hint[0] != '\0' && !(advice && strcmp(hint, advice) == 0))
		out_hint("  %s", hint);
	return CLI_EXIT_FAIL;
}

const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

bool json_bool(const cJSON *obj, const char *key, bool dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsBool(it) ? cJSON_IsTrue(it) : dflt;
}

uint64_t json_u64(const cJSON *obj, const char *key, uint64_t dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!cJSON_IsNumber(it))
		return dflt;
	d = it->valuedouble;
	if (!isfinite(d) || d < 0)
		return dflt;
	if (d >= 18446744073709551616.0)
		return UINT64_MAX;
	if ((double)(uint64_t)d != d)
		return dflt; /* not integral */
	return (uint64_t)d;
}
