/* ws-ckpt configuration: the TOML subset of /etc/ws-ckpt/config.toml. */
#ifndef WSCKPT_CONFIG_H
#define WSCKPT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/ws-ckpt/config.toml"
#define CFG_PATH_MAX 1024
#define CFG_NAME_MAX 64

enum backend_kind { BACKEND_AUTO = 0, BACKEND_LOOP, BACKEND_BASE };

struct config {
	char file[CFG_PATH_MAX];
	char socket_path[CFG_PATH_MAX];
	char socket_group[CFG_NAME_MAX];
	char state_dir[CFG_PATH_MAX];
	char frontd_user[CFG_NAME_MAX];
	char admin_group[CFG_NAME_MAX]; /* empty: none */
	char frontd_path[CFG_PATH_MAX]; /* empty: beside ws-ckptd or LIBEXECDIR */
	enum backend_kind backend;
	char img_path[CFG_PATH_MAX];    /* empty: <state_dir>/btrfs-data.img */
	uint64_t img_size_gib;
	double img_max_percent;
	char mount_path[CFG_PATH_MAX];
	char btrfs_mount[CFG_PATH_MAX];
	/* Keys of later features, parsed and validated now so a Rust config loads. */
	bool auto_cleanup;
	char auto_cleanup_keep[64];
	uint64_t auto_cleanup_interval_secs;
	uint64_t health_check_interval_secs;
	uint32_t max_workspaces_per_user;     /* 0: unlimited */
	uint32_t max_snapshots_per_workspace; /* 0: unlimited */
	uint32_t max_connections_per_uid;
	uint32_t max_connections;
	uint64_t set_mask; /* bit i set when key table entry i appeared in the file */
};

void config_defaults(struct config *cfg);

/*
 * Parse text (the content of file name) over cfg, which must hold defaults.
 * Returns 0, or -1 with "name:line: reason" in err.
 */
int config_parse(const char *name, const char *text, struct config *cfg, char *err, size_t errsz);

/* Load file over defaults; a missing file means defaults. Returns 0 or -1 with err. */
int config_load(const char *file, struct config *cfg, char *err, size_t errsz);

/* Fill derived defaults (img_path from state_dir). */
void config_finish(struct config *cfg);

const char *backend_kind_name(enum backend_kind k);

/* Duration "<n><s|m|h|d|w>" (unit case-insensitive) in seconds, saturating; false if not one. */
bool config_duration_secs(const char *s, unsigned long long *secs);

/* Did the file set section.key? (section "" for top-level keys) */
bool config_is_set(const struct config *cfg, const char *section, const char *key);

#endif
