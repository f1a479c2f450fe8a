/*
 * A strict parser for the TOML subset ws-ckpt uses: [section] headers, key = value
 * with basic/literal strings, integers, floats and booleans, and # comments.
 * Anything else is an error with file:line, so a typo never silently becomes a default.
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"

enum val_type { V_STR, V_INT, V_FLOAT, V_BOOL };

struct value {
	enum val_type type;
	char str[CFG_PATH_MAX];
	long long i;
	double f;
	bool b;
};

enum key_kind { K_PATH, K_NAME, K_BACKEND, K_U64, K_U32, K_PERCENT, K_BOOL, K_KEEP };

struct key_def {
	const char *section;
	const char *key;
	enum key_kind kind;
	size_t off;
	size_t size;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct key_def keys[] = {
	{ "", "socket_path", K_PATH, F(socket_path) },
	{ "", "socket_group", K_NAME, F(socket_group) },
	{ "", "state_dir", K_PATH, F(state_dir) },
	{ "", "frontd_user", K_NAME, F(frontd_user) },
	{ "", "admin_group", K_NAME, F(admin_group) },
	{ "", "frontd_path", K_PATH, F(frontd_path) },
	{ "", "auto_cleanup", K_BOOL, F(auto_cleanup) },
	{ "", "auto_cleanup_keep", K_KEEP, F(auto_cleanup_keep) },
	{ "", "auto_cleanup_interval_secs", K_U64, F(auto_cleanup_interval_secs) },
	{ "", "health_check_interval_secs", K_U64, F(health_check_interval_secs) },
	{ "", "max_workspaces_per_user", K_U32, F(max_workspaces_per_user) },
	{ "", "max_snapshots_per_workspace", K_U32, F(max_snapshots_per_workspace) },
	{ "", "max_connections_per_uid", K_U32, F(max_connections_per_uid) },
	{ "", "max_connections", K_U32, F(max_connections) },
	{ "backend", "type", K_BACKEND, F(backend) },
	{ "backend.btrfs-loop", "img_path", K_PATH, F(img_path) },
	{ "backend.btrfs-loop", "img_size", K_U64, F(img_size_gib) },
	{ "backend.btrfs-loop", "img_max_percent", K_PERCENT, F(img_max_percent) },
	{ "backend.btrfs-loop", "mount_path", K_PATH, F(mount_path) },
	{ "backend.btrfs-base", "btrfs_mount", K_PATH, F(btrfs_mount) },
};

static const char *known_sections[] = { "", "backend", "backend.btrfs-loop", "backend.btrfs-base" };

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->file, sizeof(cfg->file), "%s", CONFIG_DEFAULT_PATH);
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "/run/ws-ckpt/ws-ckpt.sock");
	snprintf(cfg->socket_group, sizeof(cfg->socket_group), "ws-ckpt");
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/ws-ckpt");
	snprintf(cfg->frontd_user, sizeof(cfg->frontd_user), "ws-ckpt");
	snprintf(cfg->mount_path, sizeof(cfg->mount_path), "/mnt/btrfs-workspace");
	snprintf(cfg->auto_cleanup_keep, sizeof(cfg->auto_cleanup_keep), "20");
	cfg->backend = BACKEND_AUTO;
	cfg->img_size_gib = 30;
	cfg->img_max_percent = 40.0;
	cfg->auto_cleanup_interval_secs = 86400;
	cfg->health_check_interval_secs = 300;
	cfg->max_connections_per_uid = 32;
	cfg->max_connections = 256;
}

void config_finish(struct config *cfg)
{
	/* state_dir is bounded at parse time so the derived path always fits. */
	if (cfg->img_path[0] == '\0' &&
	    snprintf(cfg->img_path, sizeof(cfg->img_path), "%s/btrfs-data.img", cfg->state_dir) >=
		    (int)sizeof(cfg->img_path))
		cfg->img_path[0] = '\0';
}

const char *backend_kind_name(enum backend_kind k)
{
	switch (k) {
	case BACKEND_LOOP:
		return "btrfs-loop";
	case BACKEND_BASE:
		return "btrfs-base";
	default:
		return "auto";
	}
}

struct parser {
	const char *name;
	int line;
	char *err;
	size_t errsz;
	unsigned sections_seen; /* bit i: known_sections[i] had its header */
};

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *ps, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errsz, "%s:%d: %s", ps->name, ps->line, msg);
	return -1;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* After a value or header only whitespace and an optional comment may follow. */
static int expect_eol(struct parser *ps, const char *p)
{
	p = skip_ws(p);
	if (*p == '\0' || *p == '#')
		return 0;
	return perr(ps, "unexpected text after value: '%.20s'", p);
}

static bool bare_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static int parse_basic_string(struct parser *ps, const char **pp, struct value *v)
{
	const char *p = *pp + 1;
	size_t o = 0;

	while (*p && *p != '"') {
		char c = *p++;
		if ((unsigned char)c < 0x20 && c != '\t')
			return perr(ps, "control character in string");
		if (c == '\\') {
			switch (*p++) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			default:
				return perr(ps, "unsupported escape in string");
			}
		}
		if (o + 1 >= sizeof(v->str))
			return perr(ps, "string too long (max %zu bytes)", sizeof(v->str) - 1);
		v->str[o++] = c;
	}
	if (*p != '"')
		return perr(ps, "unterminated string");
	v->str[o] = '\0';
	v->type = V_STR;
	*pp = p + 1;
	return 0;
}

static int parse_literal_string(struct parser *ps, const char **pp, struct value *v)
{
	const char *p = *pp + 1;
	const char *end = strchr(p, '\'');
	size_t len;

	if (!end)
		return perr(ps, "unterminated string");
	len = (size_t)(end - p);
	if (len >= sizeof(v->str))
		return perr(ps, "string too long (max %zu bytes)", sizeof(v->str) - 1);
	memcpy(v->str, p, len);
	v->str[len] = '\0';
	v->type = V_STR;
	*pp = end + 1;
	return 0;
}

static int parse_number(struct parser *ps, const char **pp, struct value *v)
{
	const char *p = *pp;
	char tok[64];
	size_t n = 0;
	char *end;

	while (*p && (isalnum((unsigned char)*p) || strchr("+-._", *p))) {
		if (n + 1 >= sizeof(tok))
			return perr(ps, "number too long");
		if (*p != '_')
			tok[n++] = *p;
		p++;
	}
	tok[n] = '\0';
	if (n == 0)
		return perr(ps, "missing value");
	errno = 0;
	if (strpbrk(tok, ".eE") && !strpbrk(tok, "xX")) {
		v->f = strtod(tok, &end);
		if (*end || errno || !isfinite(v->f))
			return perr(ps, "invalid number '%s'", tok);
		v->type = V_FLOAT;
	} else {
		v->i = strtoll(tok, &end, 10);
		if (*end || errno)
			return perr(ps, "invalid value '%s' (strings need quotes)", tok);
		v->type = V_INT;
	}
	*pp = p;
	return 0;
}

static int parse_value(struct parser *ps, const char *p, struct value *v)
{
	int rc;

	p = skip_ws(p);
	if (*p == '"')
		rc = parse_basic_string(ps, &p, v);
	else if (*p == '\'')
		rc = parse_literal_string(ps, &p, v);
	else if (strncmp(p, "true", 4) == 0 && !bare_char(p[4])) {
		v->type = V_BOOL;
		v->b = true;
		p += 4;
		rc = 0;
	} else if (strncmp(p, "false", 5) == 0 && !bare_char(p[5])) {
		v->type = V_BOOL;
		v->b = false;
		p += 5;
		rc = 0;
	} else if (*p == '[' || *p == '{')
		return perr(ps, "arrays and inline tables are not supported");
	else
		rc = parse_number(ps, &p, v);
	if (rc)
		return rc;
	return expect_eol(ps, p);
}

/* Duration as in the Rust ws-ckpt: <u64><s|m|h|d|w>, case-insensitive unit. */
bool config_duration_secs(const char *s, unsigned long long *secs)
{
	static const char units[] = "smhdw";
	static const unsigned long long mult[] = { 1, 60, 3600, 86400, 604800 };
	size_t len = strlen(s);
	const char *u;
	char *end;
	unsigned long long n;

	if (len < 2 || !isdigit((unsigned char)s[0]))
		return false;
	u = strchr(units, tolower((unsigned char)s[len - 1]));
	if (!u || !*u)
		return false;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end != s + len - 1)
		return false;
	/* Saturate rather than wrap: a huge age simply keeps everything. */
	*secs = n > ULLONG_MAX / mult[u - units] ? ULLONG_MAX : n * mult[u - units];
	return true;
}

static bool duration_valid(const char *s)
{
	unsigned long long secs;

	return config_duration_secs(s, &secs);
}

static int store_path(struct parser *ps, const struct key_def *k, const struct value *v, char *dst)
{
	if (v->type != V_STR)
		return perr(ps, "%s: expected a string", k->key);
	if (v->str[0] != '/')
		return perr(ps, "%s: expected an absolute path, got '%s'", k->key, v->str);
	/* Leave room for names derived from configured paths (image, tmp files). */
	if (strlen(v->str) + 64 >= k->size)
		return perr(ps, "%s: path too long", k->key);
	strcpy(dst, v->str);
	return 0;
}

static int store_name(struct parser *ps, const struct key_def *k, const struct value *v, char *dst)
{
	if (v->type != V_STR)
		return perr(ps, "%s: expected a string", k->key);
	if (strlen(v->str) >= k->size)
		return perr(ps, "%s: name too long", k->key);
	for (const char *c = v->str; *c; c++) {
		if (!bare_char(*c) && *c != '.')
			return perr(ps, "%s: invalid user or group name '%s'", k->key, v->str);
	}
	strcpy(dst, v->str);
	return 0;
}

static int store_value(struct parser *ps, const struct key_def *k, const struct value *v,
		       struct config *cfg)
{
	char *dst = (char *)cfg + k->off;

	switch (k->kind) {
	case K_PATH:
		return store_path(ps, k, v, dst);
	case K_NAME:
		return store_name(ps, k, v, dst);
	case K_BACKEND:
		if (v->type != V_STR)
			return perr(ps, "type: expected a string");
		if (strcmp(v->str, "auto") == 0)
			cfg->backend = BACKEND_AUTO;
		else if (strcmp(v->str, "btrfs-loop") == 0)
			cfg->backend = BACKEND_LOOP;
		else if (strcmp(v->str, "btrfs-base") == 0)
			cfg->backend = BACKEND_BASE;
		else
			return perr(ps, "type: expected \"auto\", \"btrfs-loop\" or \"btrfs-base\", got \"%s\"",
				    v->str);
		return 0;
	case K_U64:
		if (v->type != V_INT || v->i < 0)
			return perr(ps, "%s: expected a non-negative integer", k->key);
		*(uint64_t *)(void *)dst = (uint64_t)v->i;
		return 0;
	case K_U32:
		if (v->type != V_INT || v->i < 0 || v->i > UINT32_MAX)
			return perr(ps, "%s: expected an integer in 0..4294967295", k->key);
		*(uint32_t *)(void *)dst = (uint32_t)v->i;
		return 0;
	case K_PERCENT: {
		double d = v->type == V_INT ? (double)v->i : v->f;
		if ((v->type != V_INT && v->type != V_FLOAT) || !(d >= 0.0 && d <= 100.0))
			return perr(ps, "%s: expected a finite value in 0.0..=100.0", k->key);
		cfg->img_max_percent = d;
		return 0;
	}
	case K_BOOL:
		if (v->type != V_BOOL)
			return perr(ps, "%s: expected true or false", k->key);
		*(bool *)(void *)dst = v->b;
		return 0;
	case K_KEEP:
		if (v->type == V_INT) {
			if (v->i < 0 || v->i > UINT32_MAX)
				return perr(ps, "auto_cleanup_keep count %lld out of u32 range", v->i);
			snprintf(cfg->auto_cleanup_keep, sizeof(cfg->auto_cleanup_keep), "%lld", v->i);
			return 0;
		}
		if (v->type != V_STR || strlen(v->str) >= k->size || !duration_valid(v->str))
			return perr(ps, "auto_cleanup_keep: expected a non-negative integer (count mode) or a duration string like \"30d\" (age mode)");
		strcpy(cfg->auto_cleanup_keep, v->str);
		return 0;
	}
	return perr(ps, "internal: unknown key kind");
}

static int parse_header(struct parser *ps, const char *p, char *section, size_t secsz)
{
	size_t n = 0;

	p++; /* '[' */
	p = skip_ws(p);
	if (*p == '[')
		return perr(ps, "arrays of tables are not supported");
	while (bare_char(*p) || *p == '.') {
		if (n + 1 >= secsz)
			return perr(ps, "section name too long");
		section[n++] = *p++;
	}
	section[n] = '\0';
	p = skip_ws(p);
	if (*p != ']' || n == 0)
		return perr(ps, "malformed section header");
	for (size_t i = 0; i < sizeof(known_sections) / sizeof(known_sections[0]); i++) {
		if (strcmp(section, known_sections[i]) != 0)
			continue;
		/* TOML defines a table once; a second header would also make a key look
		 * absent to whoever edits the first one. */
		if (ps->sections_seen & (1u << i))
			return perr(ps, "section [%s] appears twice", section);
		ps->sections_seen |= 1u << i;
		return expect_eol(ps, p + 1);
	}
	return perr(ps, "unknown section [%s]", section);
}

static int parse_line(struct parser *ps, const char *line, char *section, size_t secsz,
		      struct config *cfg)
{
	char key[64];
	size_t n = 0;
	struct value v;
	const char *p = skip_ws(line);

	if (*p == '\0' || *p == '#' || *p == '\r')
		return 0;
	if (*p == '[')
		return parse_header(ps, p, section, secsz);
	while (bare_char(*p)) {
		if (n + 1 >= sizeof(key))
			return perr(ps, "key too long");
		key[n++] = *p++;
	}
	key[n] = '\0';
	if (n == 0)
		return perr(ps, "expected 'key = value'");
	p = skip_ws(p);
	if (*p != '=')
		return perr(ps, "expected '=' after key '%s'", key);
	memset(&v, 0, sizeof(v));
	if (parse_value(ps, p + 1, &v))
		return -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) {
			if (cfg->set_mask & (1ULL << i))
				return perr(ps, "duplicate key '%s'", key);
			cfg->set_mask |= 1ULL << i;
			return store_value(ps, &keys[i], &v, cfg);
		}
	}
	return perr(ps, "unknown key '%s'%s%s%s", key, section[0] ? " in [" : "", section,
		    section[0] ? "]" : "");
}

int config_parse(const char *name, const char *text, struct config *cfg, char *err, size_t errsz)
{
	struct parser ps = { .name = name, .line = 0, .err = err, .errsz = errsz };
	char section[64] = "";
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[2048];

		ps.line++;
		if (len >= sizeof(line))
			return perr(&ps, "line too long");
		memcpy(line, p, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (memchr(p, '\0', len))
			return perr(&ps, "NUL byte in file");
		if (parse_line(&ps, line, section, sizeof(section), cfg))
			return -1;
		p += len + (nl ? 1 : 0);
	}
	return 0;
}

int config_load(const char *file, struct config *cfg, char *err, size_t errsz)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	config_defaults(cfg);
	snprintf(cfg->file, sizeof(cfg->file), "%s", file);
	/* An admin's config may be a symlink (config management); it is root-owned input. */
	rc = read_file_flags(AT_FDCWD, file, 0, 1 << 20, &text, &len);
	if (rc == -ENOENT) {
		config_finish(cfg);
		return 0;
	}
	if (rc < 0) {
		snprintf(err, errsz, "%s: cannot read: %s", file, strerror(-rc));
		return -1;
	}
	/* config_parse sees a C string: a NUL would silently hide the rest of the file. */
	if (strlen(text) != len) {
		int line = 1;
		for (const char *c = text; *c; c++)
			line += *c == '\n';
		snprintf(err, errsz, "%s:%d: NUL byte in file", file, line);
		free(text);
		return -1;
	}
	rc = config_parse(file, text, cfg, err, errsz);
	free(text);
	if (rc == 0)
		config_finish(cfg);
	return rc;
}

bool config_is_set(const struct config *cfg, const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return (cfg->set_mask >> i) & 1;
	}
	return false;
}
