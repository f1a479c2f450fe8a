/*
 * Config requests. Updates arrive from frontd as a TOML fragment that privd validates
 * with the same strict parser as the file itself; the file is then edited line by line
 * (comments and unknown lines kept), written atomically, and reloaded.
 */
#include "privd/config_ops.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/config_edit.h"
#include "common/log.h"
#include "privd/ops.h"
#include "privd/scheduler.h"

struct settable {
	const char *section, *key;
	bool needs_restart;
};

static const struct settable settable[] = {
	{ "", "auto_cleanup", false },
	{ "", "auto_cleanup_keep", false },
	{ "", "auto_cleanup_interval_secs", false },
	{ "", "health_check_interval_secs", false },
	{ "backend.btrfs-loop", "img_size", true },
	{ "backend.btrfs-loop", "img_max_percent", true },
};

int config_reload(struct privd *pd, char *err, size_t errsz)
{
	struct config nc;

	if (config_load(pd->cfg.file, &nc, err, errsz) < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		return -1;
	}
	pd->cfg.max_workspaces_per_user = nc.max_workspaces_per_user;
	pd->cfg.max_snapshots_per_workspace = nc.max_snapshots_per_workspace;
	pd->cfg.auto_cleanup = nc.auto_cleanup;
	memcpy(pd->cfg.auto_cleanup_keep, nc.auto_cleanup_keep, sizeof(nc.auto_cleanup_keep));
	pd->cfg.auto_cleanup_interval_secs = nc.auto_cleanup_interval_secs;
	pd->cfg.health_check_interval_secs = nc.health_check_interval_secs;
	if (nc.img_size_gib != pd->cfg.img_size_gib || nc.img_max_percent != pd->cfg.img_max_percent)
		log_warn("BtrfsLoop image sizing changed in %s (img_size: %llu -> %llu GB, img_max_percent: %g -> %g); it applies at the next daemon start",
			 pd->cfg.file, (unsigned long long)pd->cfg.img_size_gib,
			 (unsigned long long)nc.img_size_gib, pd->cfg.img_max_percent, nc.img_max_percent);
	/* set_mask tracks the file, so "(default)" stays truthful after a reload. */
	pd->cfg.set_mask = nc.set_mask;
	log_info("Config reloaded from %s", pd->cfg.file);
	if (pd->base)
		scheduler_arm(pd);
	return 0;
}

static bool require_admin(struct privd *pd, const struct op_call *c)
{
	if (peer_is_admin(pd, c->peer))
		return true;
	reply_err(&c->rc, WSE_PERMISSION_DENIED, "Ask an administrator (root or a member of admin_group).",
		  "changing or reloading the daemon configuration needs root or admin_group");
	return false;
}

void op_reload(struct privd *pd, const struct op_call *c)
{
	char err[1024];

	if (!require_admin(pd, c))
		return;
	if (config_reload(pd, err, sizeof(err)) < 0) {
		reply_err(&c->rc, WSE_INVALID_ARGUMENT, "Fix the file; the running configuration is unchanged.",
			  "Failed to reload config: %s", err);
		return;
	}
	reply_ok(&c->rc, cJSON_CreateObject());
}

static void add_value(cJSON *vals, const struct config *cfg, const char *name, const char *section,
		      const char *key, cJSON *v)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "value", v);
	cJSON_AddBoolToObject(o, "set", key && config_is_set(cfg, section, key));
	cJSON_AddItemToObject(vals, name, o);
}

void op_config_get(struct privd *pd, const struct op_call *c)
{
	const struct config *cfg = &pd->cfg;
	cJSON *r = cJSON_CreateObject(), *v;

	cJSON_AddStringToObject(r, "config_file", cfg->file);
	v = cJSON_AddObjectToObject(r, "values");
	add_value(v, cfg, "mount_path", "backend.btrfs-loop", "mount_path", cJSON_CreateString(cfg->mount_path));
	add_value(v, cfg, "socket_path", "", "socket_path", cJSON_CreateString(cfg->socket_path));
	add_value(v, cfg, "auto_cleanup", "", "auto_cleanup", cJSON_CreateBool(cfg->auto_cleanup));
	add_value(v, cfg, "auto_cleanup_keep", "", "auto_cleanup_keep",
		  cJSON_CreateString(cfg->auto_cleanup_keep));
	add_value(v, cfg, "auto_cleanup_interval_secs", "", "auto_cleanup_interval_secs",
		  cJSON_CreateNumber((double)cfg->auto_cleanup_interval_secs));
	add_value(v, cfg, "health_check_interval_secs", "", "health_check_interval_secs",
		  cJSON_CreateNumber((double)cfg->health_check_interval_secs));
	add_value(v, cfg, "img_size", "backend.btrfs-loop", "img_size",
		  cJSON_CreateNumber((double)cfg->img_size_gib));
	add_value(v, cfg, "img_max_percent", "backend.btrfs-loop", "img_max_percent",
		  cJSON_CreateNumber(cfg->img_max_percent));
	add_value(v, cfg, "backend_type", "backend", "type",
		  cJSON_CreateString(backend_kind_name(cfg->backend)));
	reply_ok(&c->rc, r);
}

/* TOML text of a validated value from the fragment's parsed config. */
static void toml_value(const struct config *f, const char *key, char *out, size_t sz)
{
	const char *keep = f->auto_cleanup_keep;

	if (strcmp(key, "auto_cleanup") == 0)
		snprintf(out, sz, "%s", f->auto_cleanup ? "true" : "false");
	else if (strcmp(key, "auto_cleanup_keep") == 0)
		snprintf(out, sz, keep[strspn(keep, "0123456789")] ? "\"%s\"" : "%s", keep);
	else if (strcmp(key, "auto_cleanup_interval_secs") == 0)
		snprintf(out, sz, "%llu", (unsigned long long)f->auto_cleanup_interval_secs);
	else if (strcmp(key, "health_check_interval_secs") == 0)
		snprintf(out, sz, "%llu", (unsigned long long)f->health_check_interval_secs);
	else if (strcmp(key, "img_size") == 0)
		snprintf(out, sz, "%llu", (unsigned long long)f->img_size_gib);
	else
		snprintf(out, sz, "%g", f->img_max_percent);
}

static int write_config(const char *file, const char *text, char *err, size_t errsz)
{
	char real[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
	int dfd, rc;

	/* Write where the file really is (it may be a symlink managed elsewhere). */
	if (!realpath(file, real))
		snprintf(real, sizeof(real), "%s", file);
	snprintf(dir, sizeof(dir), "%s", real);
	snprintf(base, sizeof(base), "%s", real);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errsz, "cannot open the directory of %.512s: %s", real, strerror(errno));
		return -1;
	}
	rc = atomic_write_at(dfd, basename(base), text, strlen(text), 0644);
	close(dfd);
	if (rc < 0)
		snprintf(err, errsz, "cannot write %.512s: %s", real, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* Apply every key the fragment sets to the file text; fills changed/restart arrays. */
static char *apply_fragment(const char *text, const struct config *frag, cJSON *changed, cJSON *restart)
{
	char *cur = strdup(text);

	for (size_t i = 0; cur && i < sizeof(settable) / sizeof(settable[0]); i++) {
		char val[80], *next;

		if (!config_is_set(frag, settable[i].section, settable[i].key))
			continue;
		toml_value(frag, settable[i].key, val, sizeof(val));
		next = config_edit_set(cur, settable[i].section, settable[i].key, val);
		free(cur);
		cur = next;
		cJSON_AddItemToArray(changed, cJSON_CreateString(settable[i].key));
		if (settable[i].needs_restart)
			cJSON_AddItemToArray(restart, cJSON_CreateString(settable[i].key));
	}
	return cur;
}

void op_config_set(struct privd *pd, const struct op_call *c)
{
	struct config frag, check;
	char err[1024], *text = NULL, *edited = NULL;
	cJSON *r = NULL, *changed, *restart;
	int rc;

	if (!require_admin(pd, c))
		return;
	config_defaults(&frag);
	if (config_parse("request", c->req->message, &frag, err, sizeof(err)) < 0) {
		reply_err(&c->rc, WSE_INVALID_ARGUMENT, NULL, "invalid configuration value: %s", err);
		return;
	}
	rc = read_file_flags(AT_FDCWD, pd->cfg.file, 0, 1 << 20, &text, NULL);
	if (rc == -ENOENT)
		text = strdup("");
	else if (rc < 0) {
		reply_err(&c->rc, WSE_IO, NULL, "cannot read %s: %s", pd->cfg.file, strerror(-rc));
		return;
	}
	r = cJSON_CreateObject();
	changed = cJSON_AddArrayToObject(r, "changed");
	restart = cJSON_AddArrayToObject(r, "restart_required");
	edited = text ? apply_fragment(text, &frag, changed, restart) : NULL;
	config_defaults(&check);
	if (!edited || config_parse(pd->cfg.file, edited, &check, err, sizeof(err)) < 0 ||
	    write_config(pd->cfg.file, edited, err, sizeof(err)) < 0 ||
	    config_reload(pd, err, sizeof(err)) < 0) {
		reply_err(&c->rc, edited ? WSE_IO : WSE_INTERNAL, "The file was left as it was.",
			  "cannot update %s: %s", pd->cfg.file, edited ? err : "out of memory");
		cJSON_Delete(r);
	} else {
		log_info("configuration updated by uid %u", (unsigned)c->peer->uid);
		reply_ok(&c->rc, r);
	}
	free(text);
	free(edited);
}
