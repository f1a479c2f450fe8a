/*
 * The complete catalogue of messages between ws-ckpt-frontd and ws-ckptd (privd).
 * Every payload is a fixed struct; privd checks the exact length, NUL termination of
 * every string and re-validates every id before acting. Nothing else crosses.
 */
#ifndef WSCKPT_PRIVSEP_H
#define WSCKPT_PRIVSEP_H

#include <stdint.h>

#include "common/validate.h"

#define PRIVSEP_MSG_MAX 4096
#define PRIVSEP_METADATA_MAX (64u * 1024u)
#define PRIVSEP_HINT_MAX 512
#define PRIVSEP_ERRMSG_MAX 1024

enum privsep_type {
	/* frontd -> privd */
	PS_CLIENT_HELLO = 1, /* fd: the client's connected socket; peerid: session */
	PS_CLIENT_BYE,       /* session closed; no payload */
	PS_REQUEST,          /* struct ps_request + metadata_len bytes */
	/* privd -> frontd */
	PS_REPLY_DATA = 100, /* struct ps_reply_data + JSON text chunk of the result */
	PS_REPLY_END,        /* struct ps_reply_end */
	PS_HELLO_REJECT,     /* struct ps_reply_end: privd refused the client; close it */
	PS_REPLY_STREAM,     /* struct ps_reply_data; fd: read end of a btrfs send stream
			      * (diff); the PS_REPLY_END follows when the sender is done */
};

enum ps_op {
	OP_VERSION = 1,
	OP_INIT,
	OP_CHECKPOINT,
	OP_ROLLBACK,
	OP_DELETE,
	OP_LIST,
	OP_STATUS,
	OP_DIFF,
	OP_PIN,     /* PSF_PIN set: pin, clear: unpin */
	OP_CLEANUP, /* number: how many unpinned snapshots to keep */
	OP_RECOVER, /* make the workspace a plain directory again */
	OP_RELOAD,
	OP_CONFIG_GET,
	OP_CONFIG_SET, /* message: TOML fragment of the keys to set */
	OP_UNREGISTER, /* forget a workspace whose live subvolume is gone */
	OP__MAX
};

#define PSF_FORCE 0x1u           /* delete: confirmed */
#define PSF_DISCARD_CURRENT 0x2u /* rollback: do not keep the replaced state */
#define PSF_HAS_MESSAGE 0x4u     /* checkpoint: message present */
#define PSF_HAS_WORKSPACE 0x8u   /* list/status/delete: workspace given */
#define PSF_FROM_LIVE 0x10u     /* diff: from = the live workspace (rollback preview) */
#define PSF_PIN 0x20u           /* checkpoint: create pinned; pin op: pin (else unpin) */
#define PSF_SKIP_UNCHANGED 0x40u /* checkpoint: no snapshot when nothing changed since head */
#define PSF_ADVISORY 0x80u       /* any op: a success carries the storage advisory (reply_end) */
#define PSF__ALL 0xffu

struct ps_request {
	uint64_t req_id;
	uint32_t op;    /* enum ps_op */
	uint32_t flags; /* PSF_* */
	char workspace[WS_PATH_MAX];
	char snapshot[SNAPSHOT_ID_MAX + 1];
	char message[PRIVSEP_MSG_MAX + 1];
	char snapshot2[SNAPSHOT_ID_MAX + 1]; /* diff: "to" (empty: the live workspace) */
	uint8_t pad[1]; /* explicit, zeroed: no hidden padding crosses the channel */
	uint32_t number;       /* cleanup: keep count; rollback: steps back in history (-n) */
	uint32_t metadata_len; /* bytes of canonical JSON following the struct; 0: none */
	uint32_t reserved;     /* zero */
};

struct ps_reply_data {
	uint64_t req_id;
};

struct ps_reply_end {
	uint64_t req_id;
	uint32_t code; /* enum ws_err; WSE_OK on success */
	uint32_t has_advisory; /* 1: the adv_* fields are set (success of a PSF_ADVISORY request) */
	char message[PRIVSEP_ERRMSG_MAX];
	char hint[PRIVSEP_HINT_MAX];
	/* The storage advisory, as the caller may see it: how many of the caller's
	 * workspaces hold more than adv_snapshot_limit snapshots, and the backend's fill. */
	uint32_t adv_over_limit;
	uint32_t adv_snapshot_limit;
	uint64_t adv_fs_total_bytes;
	uint64_t adv_fs_used_bytes;
};
/* Both processes read these structs raw: no hidden padding may cross the channel. */
_Static_assert(sizeof(struct ps_reply_end) == 8 + 4 + 4 + PRIVSEP_ERRMSG_MAX + PRIVSEP_HINT_MAX +
			4 + 4 + 8 + 8, "struct ps_reply_end has hidden padding");

#endif
