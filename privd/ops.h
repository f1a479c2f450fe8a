/* Workspace operations run by privd. Each answers exactly once through reply_*(). */
#ifndef WSCKPT_OPS_H
#define WSCKPT_OPS_H

#include "privd/channel.h"
#include "privd/peer.h"
#include "privd/privd.h"
#include "proto/privsep.h"

struct op_call {
	struct req_ctx rc;
	const struct peer *peer;      /* valid only until the handler returns */
	const struct ps_request *req; /* validated */
	const char *metadata;         /* canonical JSON text, NUL-terminated, or NULL */
};

void op_version(struct privd *pd, const struct op_call *c);
void op_init(struct privd *pd, const struct op_call *c);
void op_checkpoint(struct privd *pd, const struct op_call *c);
void op_rollback(struct privd *pd, const struct op_call *c);
void op_delete(struct privd *pd, const struct op_call *c);
void op_list(struct privd *pd, const struct op_call *c);
void op_status(struct privd *pd, const struct op_call *c);
void op_diff(struct privd *pd, const struct op_call *c);
void op_pin(struct privd *pd, const struct op_call *c);
void op_cleanup(struct privd *pd, const struct op_call *c);
void op_recover(struct privd *pd, const struct op_call *c);
void op_reload(struct privd *pd, const struct op_call *c);
void op_unregister(struct privd *pd, const struct op_call *c);
void op_config_get(struct privd *pd, const struct op_call *c);
void op_config_set(struct privd *pd, const struct op_call *c);

/* Retention (cleanup and auto-cleanup); see op_retention.c. rs: optional, collects the
 * removed subvolumes for privd/reclaim.c. */
struct reclaim_set;
int retention_apply(struct privd *pd, struct workspace *w, size_t keep, time_t older_than,
		    struct cJSON *removed, struct reclaim_set *rs);

/* Durable single-snapshot delete (intent, subvolume; the record is gone). The intent stays
 * until a commit covers the delete (pending_settle, pending_drop_committed). 0 or -errno
 * with err. */
int snapshot_delete(struct privd *pd, struct workspace *w, struct snapshot *s, char *err,
		    size_t errsz);
/* Commit, then drop the delete intents of w whose subvolumes are gone. 0 or -errno. */
int pending_settle(struct privd *pd, struct workspace *w);
/* Drop the delete intents of w whose subvolumes are gone from bucket, without saving the
 * index: only right after a btrfs commit that began after those deletes (a snapshot
 * ioctl, a syncfs). true if any went. */
bool pending_drop_committed(struct workspace *w, int bucket);
/* At a clean stop: commit every workspace's delete intents and drop them (what cannot be
 * committed stays for the next start). */
void pending_settle_all(struct privd *pd);

/* Checkpoint after an implicit init finished (init's completion calls this). */
void op_checkpoint_after_init(struct privd *pd, const struct req_ctx *rc, uid_t uid,
			      const struct ps_request *req, const char *metadata,
			      struct workspace *w);

#endif
