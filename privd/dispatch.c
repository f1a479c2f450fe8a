/*
 * Every PS_REQUEST passes here. Like OpenSSH's monitor, privd accepts only the
 * operations in this table, with the fields each one needs, each re-validated: frontd
 * checked them too, but frontd may be compromised.
 */
#include "privd/dispatch.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonlimits.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/validate.h"
#include "privd/ops.h"

enum need { N_NONE = 0, N_WS = 1, N_SNAP = 2, N_WS_OPT = 4, N_SNAP2 = 8 };

struct op_entry {
	const char *name;
	void (*fn)(struct privd *, const struct op_call *);
	unsigned need;
	uint32_t flags_allowed;
};

static const struct op_entry table[OP__MAX] = {
	[OP_VERSION] = { "version", op_version, N_NONE, 0 },
	[OP_INIT] = { "init", op_init, N_WS, PSF_HAS_WORKSPACE },
	[OP_CHECKPOINT] = { "checkpoint", op_checkpoint, N_WS | N_SNAP,
			    PSF_HAS_WORKSPACE | PSF_HAS_MESSAGE | PSF_PIN | PSF_SKIP_UNCHANGED },
	[OP_ROLLBACK] = { "rollback", op_rollback, N_WS | N_SNAP, PSF_HAS_WORKSPACE | PSF_DISCARD_CURRENT },
	[OP_DELETE] = { "delete", op_delete, N_WS_OPT | N_SNAP, PSF_FORCE | PSF_HAS_WORKSPACE },
	[OP_LIST] = { "list", op_list, N_WS_OPT, PSF_HAS_WORKSPACE },
	[OP_STATUS] = { "status", op_status, N_WS_OPT, PSF_HAS_WORKSPACE },
	[OP_DIFF] = { "diff", op_diff, N_WS | N_SNAP2, PSF_HAS_WORKSPACE | PSF_FROM_LIVE },
	[OP_PIN] = { "pin", op_pin, N_WS | N_SNAP, PSF_HAS_WORKSPACE | PSF_PIN },
	[OP_CLEANUP] = { "cleanup", op_cleanup, N_WS, PSF_HAS_WORKSPACE },
	[OP_RECOVER] = { "recover", op_recover, N_WS, PSF_HAS_WORKSPACE },
	[OP_RELOAD] = { "reload", op_reload, N_NONE, 0 },
	[OP_CONFIG_GET] = { "config", op_config_get, N_NONE, 0 },
	[OP_CONFIG_SET] = { "config_set", op_config_set, N_NONE, PSF_HAS_MESSAGE },
	[OP_UNREGISTER] = { "unregister", op_unregister, N_WS, PSF_HAS_WORKSPACE },
};

static bool terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static bool ws_ref_valid(const char *ref)
{
	char norm[WS_PATH_MAX];

	if (ws_id_valid(ref))
		return true;
	return path_normalize(ref, norm, sizeof(norm)) && strcmp(norm, ref) == 0;
}

/* diff: from (unless from live) and to (optional) are ids; at least one side is a snapshot. */
static bool diff_refs_valid(const struct ps_request *r)
{
	bool from_live = r->flags & PSF_FROM_LIVE;

	if (from_live ? r->snapshot[0] != '\0' : !snapshot_id_valid(r->snapshot))
		return false;
	if (r->snapshot2[0] && !snapshot_id_valid(r->snapshot2))
		return false;
	return !(from_live && !r->snapshot2[0]);
}

static bool fields_valid(const struct op_entry *e, const struct ps_request *r)
{
	bool has_ws = r->flags & PSF_HAS_WORKSPACE;

	if (r->reserved != 0 || (r->number != 0 && r->op != OP_CLEANUP && r->op != OP_ROLLBACK))
		return false;
	if ((r->flags & ~(e->flags_allowed | PSF_ADVISORY)) || ((e->need & N_WS) && !has_ws))
		return false;
	if (!terminated(r->workspace, sizeof(r->workspace)) ||
	    !terminated(r->snapshot, sizeof(r->snapshot)) ||
	    !terminated(r->message, sizeof(r->message)))
		return false;
	/* As frontd requires: these go into JSON state files and replies. */
	if (!utf8_valid(r->workspace, strlen(r->workspace)) ||
	    !utf8_valid(r->message, strlen(r->message)))
		return false;
	if (has_ws ? !ws_ref_valid(r->workspace) : r->workspace[0] != '\0')
		return false;
	if (!terminated(r->snapshot2, sizeof(r->snapshot2)))
		return false;
	/* rollback -n N names no snapshot; everything else that needs one names it. */
	if (r->op == OP_ROLLBACK && r->number != 0)
		return r->snapshot[0] == '\0' && r->snapshot2[0] == '\0' && r->message[0] == '\0';
	if ((e->need & N_SNAP2) ? !diff_refs_valid(r) : (r->snapshot2[0] != '\0' ||
	    ((e->need & N_SNAP) ? !snapshot_id_valid(r->snapshot) : r->snapshot[0] != '\0')))
		return false;
	if (!(r->flags & PSF_HAS_MESSAGE) && r->message[0] != '\0')
		return false;
	return true;
}

/*
 * Metadata must be NUL-free, shallow, UTF-8 and exactly one JSON value. It is later
 * spliced raw into index.json and replies, so what is kept is cJSON's canonical print
 * of it (what frontd sends anyway): never trailing text or raw control characters
 * (cJSON_Parse ignores the former and takes any byte <= 0x20 as whitespace).
 */
static int metadata_copy(const struct ps_request *r, const char *tail, char **out)
{
	char *text;
	cJSON *j;

	*out = NULL;
	if (r->metadata_len == 0)
		return 0;
	if (r->op != OP_CHECKPOINT || r->metadata_len > PRIVSEP_METADATA_MAX ||
	    memchr(tail, '\0', r->metadata_len) || !utf8_valid(tail, r->metadata_len) ||
	    !json_depth_ok(tail, r->metadata_len, JSON_MAX_DEPTH))
		return -1;
	text = malloc(r->metadata_len + 1);
	if (!text)
		return -1;
	memcpy(text, tail, r->metadata_len);
	text[r->metadata_len] = '\0';
	j = cJSON_ParseWithOpts(text, NULL, true);
	free(text);
	if (!j)
		return -1;
	*out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!*out || strlen(*out) > PRIVSEP_METADATA_MAX) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int dispatch_validate(const void *data, size_t len, struct ps_request *req, char **metadata)
{
	*metadata = NULL;
	if (len < sizeof(*req))
		return -1;
	memcpy(req, data, sizeof(*req));
	if (req->metadata_len > PRIVSEP_METADATA_MAX || len != sizeof(*req) + req->metadata_len)
		return -1;
	if (req->op == 0 || req->op >= OP__MAX || !table[req->op].fn)
		return -1;
	if (!fields_valid(&table[req->op], req))
		return -1;
	if (metadata_copy(req, (const char *)data + sizeof(*req), metadata) < 0)
		return -1;
	return 0;
}

const char *dispatch_op_name(uint32_t op)
{
	return op < OP__MAX && table[op].name ? table[op].name : "?";
}

int dispatch_request(struct privd *pd, uint32_t session, const void *data, size_t len)
{
	struct ps_request req;
	struct op_call call;
	const struct op_entry *e;
	char *metadata = NULL;

	if (dispatch_validate(data, len, &req, &metadata) < 0)
		return -1;
	e = &table[req.op];
	memset(&call, 0, sizeof(call));
	call.rc.session = session;
	call.rc.req_id = req.req_id;
	call.rc.generation = channel_generation();
	call.rc.op = req.op;
	call.rc.advisory = req.flags & PSF_ADVISORY;
	call.rc.start_ms = mono_ms();
	snprintf(call.rc.target, sizeof(call.rc.target), "%.95s", req.workspace[0] ? req.workspace : "-");
	call.req = &req;
	call.metadata = metadata;
	call.peer = peer_get(session);
	call.rc.uid = call.peer ? call.peer->uid : (uint32_t)-1;
	if (pd->stopping) {
		reply_err(&call.rc, WSE_BUSY, "Retry when the daemon is back.",
			  "the daemon is shutting down; nothing was done");
		free(metadata);
		return 0;
	}
	if (!call.peer) {
		/* HELLO was refused (or never sent): answer, do not act. */
		reply_err(&call.rc, WSE_PERMISSION_DENIED, NULL, "unknown or refused client session");
		free(metadata);
		return 0;
	}
	log_debug("session %u uid %u: %s %s %s", session, (unsigned)call.peer->uid, e->name,
		  req.workspace, req.snapshot);
	e->fn(pd, &call);
	free(metadata);
	return 0;
}
