/* The root helper's context: configuration, persisted state, open directories, channel. */
#ifndef WSCKPT_PRIVD_H
#define WSCKPT_PRIVD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/timeutil.h"
#include "privd/aio_sync.h"
#include "privd/registry.h"

struct event_base;

/* What state.json records about the backend (field names of the Rust ws-ckpt). */
struct backend_state {
	char backend_type[16];     /* "BtrfsLoop" | "BtrfsBase" */
	char selection_method[24]; /* "config-override" | "persisted" | "auto-detect" */
	char selected_at[RFC3339_MAX];
	char mount_path[CFG_PATH_MAX];
	char data_root[CFG_PATH_MAX];
	char snapshots_root[CFG_PATH_MAX];
	char img_path[CFG_PATH_MAX];
	uint64_t img_size_bytes;
	char last_loop_device[64];
};

/*
 * Who mounts the backend. The systemd unit splits the two so that the serving daemon can
 * run in a private mount namespace: ExecStartPre=+ws-ckptd --mount-only mounts in the
 * host's namespace, then ws-ckptd --no-mount serves an already mounted backend.
 */
enum mount_mode {
	MOUNT_AND_SERVE = 0, /* default: mount if needed, then serve */
	MOUNT_ONLY,          /* --mount-only: bootstrap the backend, then exit */
	MOUNT_NEVER,         /* --no-mount: the backend must already be mounted */
};

struct privd {
	struct config cfg;
	enum mount_mode mount_mode;
	struct backend_state be;
	struct registry reg;
	bool foreground;
	int verbosity;
	int state_dir_fd;
	int indexes_fd;
	int data_root_fd;
	int snapshots_fd;
	int lock_fd;
	int listen_fd;
	bool socket_activated; /* systemd owns the socket file: never unlink it */
	bool stopping;         /* SIGTERM seen: finish running work, accept no new work */
	uid_t frontd_uid;
	gid_t frontd_gid;
	gid_t socket_gid;
	gid_t admin_gid;
	bool has_admin_group;
	long long started_mono_ms;
	struct event_base *base;
	struct aio_sync aio; /* journal syncs that overlap a btrfs commit (privd/aio_sync.c) */
};

extern struct privd *g_privd;

#endif
