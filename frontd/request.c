/*
 * Client request parsing: the only place untrusted JSON is decoded. Limits first
 * (length, depth, UTF-8), then types, then the same name rules privd will re-check.
 */
#include "frontd/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonlimits.h"
#include "common/validate.h"

static const struct {
	const char *name;
	enum ps_op op;
} ops[] = {
	{ "version", OP_VERSION }, { "init", OP_INIT },	    { "checkpoint", OP_CHECKPOINT },
	{ "rollback", OP_ROLLBACK }, { "delete", OP_DELETE }, { "list", OP_LIST },
	{ "status", OP_STATUS },   { "diff", OP_DIFF },	      { "pin", OP_PIN },
	{ "unpin", OP_PIN },	   { "cleanup", OP_CLEANUP }, { "recover", OP_RECOVER },
	{ "reload", OP_RELOAD },   { "config", OP_CONFIG_GET }, { "config_set", OP_CONFIG_SET },
	{ "unregister", OP_UNREGISTER },
};

#define BAD(code, ...)                                  \
	do {                                            \
		snprintf(err, errsz, __VA_ARGS__);      \
		return code;                            \
	} while (0)

static bool is_u53(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740991.0 &&
	       floor(v->valuedouble) == v->valuedouble;
}

static enum ws_err get_workspace(const cJSON *root, bool required, struct ps_request *r, char *err,
				 size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "workspace");
	const char *s;

	if (!v || cJSON_IsNull(v)) {
		if (required)
			BAD(WSE_INVALID_ARGUMENT, "missing field 'workspace'");
		return WSE_OK;
	}
	if (!cJSON_IsString(v))
		BAD(WSE_INVALID_ARGUMENT, "'workspace' must be a string");
	s = v->valuestring;
	if (!utf8_valid(s, strlen(s)))
		BAD(WSE_INVALID_ARGUMENT, "'workspace' is not valid UTF-8");
	if (ws_id_valid(s)) {
		strcpy(r->workspace, s);
	} else if (s[0] != '/' || !path_normalize(s, r->workspace, sizeof(r->workspace))) {
		BAD(WSE_INVALID_ARGUMENT,
		    "'workspace' must be a ws-id (ws-xxxxxx) or an absolute path without '..' (max %d bytes)",
		    WS_PATH_MAX - 1);
	}
	r->flags |= PSF_HAS_WORKSPACE;
	return WSE_OK;
}

static enum ws_err get_id_field(const cJSON *root, const char *key, bool required, char *dst,
				char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!required && (!v || cJSON_IsNull(v)))
		return WSE_OK;
	if (!cJSON_IsString(v))
		BAD(WSE_INVALID_ARGUMENT, "missing or non-string field '%s'", key);
	if (!snapshot_id_valid(v->valuestring))
		BAD(WSE_INVALID_ARGUMENT,
		    "invalid snapshot id in '%s': use 1-%d characters from [A-Za-z0-9._:@+-], not starting with '.' or '-'",
		    key, SNAPSHOT_ID_MAX);
	strcpy(dst, v->valuestring);
	return WSE_OK;
}

static enum ws_err get_snapshot(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	return get_id_field(root, "snapshot", true, r->snapshot, err, errsz);
}

static enum ws_err get_bool(const cJSON *root, const char *key, uint32_t flag, struct ps_request *r,
			    char *err, size_t errsz);

/* rollback with "preview": true is a diff from the live workspace to the target. */
static enum ws_err rollback_fields(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	const cJSON *pv = cJSON_GetObjectItemCaseSensitive(root, "preview");
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
	enum ws_err e;

	if ((e = get_workspace(root, true, r, err, errsz)))
		return e;
	if (steps && !cJSON_IsNull(steps)) {
		/* -n N: walk the checkpoint history instead of naming a snapshot. */
		if (!is_u53(steps) || steps->valuedouble < 1 || steps->valuedouble > 100000)
			BAD(WSE_INVALID_ARGUMENT, "'steps' must be an integer in 1..100000");
		if (cJSON_GetObjectItemCaseSensitive(root, "snapshot") || cJSON_IsTrue(pv))
			BAD(WSE_INVALID_ARGUMENT, "'steps' cannot be combined with 'snapshot' or 'preview'");
		r->number = (uint32_t)steps->valuedouble;
		return get_bool(root, "discard_current", PSF_DISCARD_CURRENT, r, err, errsz);
	}
	if ((e = get_snapshot(root, r, err, errsz)))
		return e;
	if (pv && !cJSON_IsNull(pv) && !cJSON_IsBool(pv))
		BAD(WSE_INVALID_ARGUMENT, "'preview' must be true or false");
	if (cJSON_IsTrue(pv)) {
		r->op = OP_DIFF;
		r->flags |= PSF_FROM_LIVE;
		memcpy(r->snapshot2, r->snapshot, sizeof(r->snapshot2));
		memset(r->snapshot, 0, sizeof(r->snapshot));
		return WSE_OK;
	}
	return get_bool(root, "discard_current", PSF_DISCARD_CURRENT, r, err, errsz);
}

static enum ws_err diff_fields(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	enum ws_err e;

	if ((e = get_workspace(root, true, r, err, errsz)) ||
	    (e = get_id_field(root, "from", true, r->snapshot, err, errsz)))
		return e;
	return get_id_field(root, "to", false, r->snapshot2, err, errsz);
}

static enum ws_err get_bool(const cJSON *root, const char *key, uint32_t flag, struct ps_request *r,
			    char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!v || cJSON_IsNull(v))
		return WSE_OK;
	if (!cJSON_IsBool(v))
		BAD(WSE_INVALID_ARGUMENT, "'%s' must be true or false", key);
	if (cJSON_IsTrue(v))
		r->flags |= flag;
	return WSE_OK;
}

static enum ws_err get_keep(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "keep");

	r->number = 20; /* the Rust ws-ckpt's default */
	if (!v || cJSON_IsNull(v))
		return WSE_OK;
	if (!is_u53(v) || v->valuedouble > 1000000)
		BAD(WSE_INVALID_ARGUMENT, "'keep' must be an integer in 0..1000000");
	r->number = (uint32_t)v->valuedouble;
	return WSE_OK;
}

/*
 * config_set: {"set": {key: value}} becomes a TOML fragment that privd validates with the
 * config parser. Values are rendered here from typed JSON, never copied as text, so a
 * value cannot smuggle in another key or section.
 */
static enum ws_err config_fragment(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	static const char *const top[] = { "auto_cleanup", "auto_cleanup_keep",
					   "auto_cleanup_interval_secs", "health_check_interval_secs" };
	static const char *const loop[] = { "img_size", "img_max_percent" };
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(root, "set"), *v;
	size_t o = 0, nkeys = 0;
	bool in_loop = false;

	if (!cJSON_IsObject(set))
		BAD(WSE_INVALID_ARGUMENT, "'set' must be an object of configuration keys");
	cJSON_ArrayForEach(v, set) {
		bool is_top = false, is_loop = false;
		char val[64];

		for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
			is_top |= strcmp(v->string, top[i]) == 0;
		for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
			is_loop |= strcmp(v->string, loop[i]) == 0;
		if (!is_top && !is_loop)
			BAD(WSE_INVALID_ARGUMENT, "'%.64s' cannot be set through the daemon", v->string);
		if (cJSON_IsBool(v))
			snprintf(val, sizeof(val), "%s", cJSON_IsTrue(v) ? "true" : "false");
		else if (cJSON_IsNumber(v))
			snprintf(val, sizeof(val), "%.17g", v->valuedouble);
		else if (cJSON_IsString(v) && strlen(v->valuestring) < 32 &&
			 strspn(v->valuestring, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
				 strlen(v->valuestring))
			snprintf(val, sizeof(val), "\"%s\"", v->valuestring);
		else
			BAD(WSE_INVALID_ARGUMENT, "invalid value for '%s'", v->string);
		/* Top-level keys first: once a section header is written we stay in it. */
		if (is_top && in_loop)
			BAD(WSE_INVALID_ARGUMENT, "give top-level keys before img_size/img_max_percent");
		if (is_loop && !in_loop) {
			o += (size_t)snprintf(r->message + o, sizeof(r->message) - o, "[backend.btrfs-loop]\n");
			in_loop = true;
		}
		o += (size_t)snprintf(r->message + o, sizeof(r->message) - o, "%s = %s\n", v->string, val);
		if (o >= sizeof(r->message) || ++nkeys > 16)
			BAD(WSE_INVALID_ARGUMENT, "too many settings");
	}
	if (nkeys == 0)
		BAD(WSE_INVALID_ARGUMENT, "nothing to set");
	r->flags |= PSF_HAS_MESSAGE;
	return WSE_OK;
}

static enum ws_err get_message(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "message");
	size_t len;

	if (!v || cJSON_IsNull(v))
		return WSE_OK;
	if (!cJSON_IsString(v))
		BAD(WSE_INVALID_ARGUMENT, "'message' must be a string");
	len = strlen(v->valuestring);
	if (len > PRIVSEP_MSG_MAX)
		BAD(WSE_INVALID_ARGUMENT, "'message' is longer than %d bytes", PRIVSEP_MSG_MAX);
	if (!utf8_valid(v->valuestring, len))
		BAD(WSE_INVALID_ARGUMENT, "'message' is not valid UTF-8");
	strcpy(r->message, v->valuestring);
	r->flags |= PSF_HAS_MESSAGE;
	return WSE_OK;
}

static enum ws_err get_metadata(const cJSON *root, struct parsed_request *out, char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	size_t len;

	if (!v || cJSON_IsNull(v))
		return WSE_OK;
	out->metadata = cJSON_PrintUnformatted(v);
	if (!out->metadata)
		BAD(WSE_INTERNAL, "out of memory");
	len = strlen(out->metadata);
	if (len > PRIVSEP_METADATA_MAX)
		BAD(WSE_INVALID_ARGUMENT, "'metadata' is larger than %u bytes", PRIVSEP_METADATA_MAX);
	if (!utf8_valid(out->metadata, len))
		BAD(WSE_INVALID_ARGUMENT, "'metadata' is not valid UTF-8");
	out->req.metadata_len = (uint32_t)len;
	return WSE_OK;
}

static enum ws_err get_op(const cJSON *root, struct ps_request *r, char *err, size_t errsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "op");

	if (!cJSON_IsString(v))
		BAD(WSE_INVALID_ARGUMENT, "missing or non-string field 'op'");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(ops[i].name, v->valuestring) == 0) {
			r->op = ops[i].op;
			if (strcmp(v->valuestring, "pin") == 0)
				r->flags |= PSF_PIN;
			return WSE_OK;
		}
	}
	BAD(WSE_INVALID_ARGUMENT, "unknown op '%.64s'", v->valuestring);
}

static enum ws_err fill_fields(const cJSON *root, struct parsed_request *out, char *err, size_t errsz)
{
	struct ps_request *r = &out->req;
	enum ws_err e = get_op(root, r, err, errsz);

	if (e || (e = get_bool(root, "advisory", PSF_ADVISORY, r, err, errsz)))
		return e;
	switch (r->op) {
	case OP_CONFIG_SET:
		return config_fragment(root, r, err, errsz);
	case OP_INIT:
	case OP_UNREGISTER:
	case OP_RECOVER:
		return get_workspace(root, true, r, err, errsz);
	case OP_CHECKPOINT:
		if ((e = get_workspace(root, true, r, err, errsz)) || (e = get_snapshot(root, r, err, errsz)) ||
		    (e = get_message(root, r, err, errsz)) ||
		    (e = get_bool(root, "pin", PSF_PIN, r, err, errsz)) ||
		    (e = get_bool(root, "skip_unchanged", PSF_SKIP_UNCHANGED, r, err, errsz)))
			return e;
		return get_metadata(root, out, err, errsz);
	case OP_PIN:
		if ((e = get_workspace(root, true, r, err, errsz)))
			return e;
		return get_snapshot(root, r, err, errsz);
	case OP_CLEANUP:
		if ((e = get_workspace(root, true, r, err, errsz)))
			return e;
		return get_keep(root, r, err, errsz);
	case OP_ROLLBACK:
		return rollback_fields(root, r, err, errsz);
	case OP_DIFF:
		return diff_fields(root, r, err, errsz);
	case OP_DELETE:
		if ((e = get_workspace(root, false, r, err, errsz)) || (e = get_snapshot(root, r, err, errsz)))
			return e;
		return get_bool(root, "force", PSF_FORCE, r, err, errsz);
	case OP_LIST:
	case OP_STATUS:
		return get_workspace(root, false, r, err, errsz);
	default:
		return WSE_OK;
	}
}

static bool only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	}
	return true;
}

enum ws_err request_parse(const char *line, size_t len, struct parsed_request *out, char *err,
			  size_t errsz)
{
	const cJSON *v, *id;
	const char *end = NULL;
	cJSON *root;
	enum ws_err e;

	memset(out, 0, sizeof(*out));
	strcpy(out->idtext, "null");
	if (!json_depth_ok(line, len, JSON_MAX_DEPTH))
		BAD(WSE_PROTOCOL, "request nesting deeper than %d levels", JSON_MAX_DEPTH);
	/* "a\u0000b" would reach us as "a": refuse rather than act on a shorter name. */
	if (json_has_nul_escape(line, len))
		BAD(WSE_INVALID_ARGUMENT, "strings must not contain NUL characters (\\u0000)");
	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!root)
		BAD(WSE_PROTOCOL, "request is not valid JSON");
	/* One value per line: text after it would be ignored by the parser, so refuse it
	 * rather than act on half of what the client sent. */
	if (!end || end < line || end > line + len || !only_space(end, (size_t)(line + len - end))) {
		cJSON_Delete(root);
		BAD(WSE_PROTOCOL, "request line has text after the JSON object");
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		BAD(WSE_PROTOCOL, "request must be a JSON object");
	}
	id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (is_u53(id))
		snprintf(out->idtext, sizeof(out->idtext), "%.0f", id->valuedouble);
	v = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!is_u53(id)) {
		snprintf(err, errsz, "'id' must be an integer in 0..2^53-1");
		e = WSE_INVALID_ARGUMENT;
	} else if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
		snprintf(err, errsz, "unsupported protocol version: 'v' must be 1");
		e = WSE_INVALID_ARGUMENT;
	} else {
		e = fill_fields(root, out, err, errsz);
	}
	cJSON_Delete(root);
	if (e != WSE_OK) {
		free(out->metadata);
		out->metadata = NULL;
	}
	return e;
}
