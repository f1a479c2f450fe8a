/* In-memory registry of workspaces and their snapshots: what state.json and the indexes hold. */
#ifndef WSCKPT_REGISTRY_H
#define WSCKPT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "common/timeutil.h"
#include "common/validate.h"

struct snapshot {
	char id[SNAPSHOT_ID_MAX + 1];
	char *message;  /* NULL: none */
	char *metadata; /* compact JSON text; NULL: none */
	bool pinned;
	bool missing;
	char created_at[RFC3339_MAX];
	char parent[SNAPSHOT_ID_MAX + 1]; /* history: the head when it was taken ("" none) */
	struct timespec created_ts;
	bool dirty; /* changed since the index was last saved (journal: written next save) */
};

enum ws_phase { WS_READY = 0, WS_INITIALIZING, WS_RECOVERING };

/*
 * A rollback answered before btrfs committed its exchange (index field "rollback_intent").
 * The subvolume ids prove which side of the exchange survived a power cut: the writable
 * copy of the target is newer than the live subvolume it replaces (live_subvol). The
 * record is written before the copy exists, so tmp_subvol, the copy's id, is 0 (older
 * records have it). Cleared once a later btrfs commit is known to cover the exchange.
 * The start moves the head to the target only when the record has not (head_moved).
 */
struct rollback_intent {
	bool active;
	char target[SNAPSHOT_ID_MAX + 1];
	char keep_as[SNAPSHOT_ID_MAX + 1]; /* always "" now (a kept state commits); in the format */
	unsigned long long tmp_subvol, live_subvol;
	/* The head in the record already follows the rollback (false only in the record the
	 * rollback writes before its snapshot, which keeps the head of before). */
	bool head_moved;
};

/* state.json spelling of a phase, and back (unknown -> ready). */
const char *ws_phase_name(enum ws_phase p);
enum ws_phase ws_phase_parse(const char *s);

struct workspace {
	char ws_id[WS_ID_LEN + 1];
	char path[WS_PATH_MAX];
	char registered_at[RFC3339_MAX];
	char origin_backend[16];
	char head[SNAPSHOT_ID_MAX + 1]; /* history: last checkpoint or rollback target */
	struct rollback_intent rb;
	uid_t owner_uid;
	gid_t owner_gid;
	enum ws_phase phase;
	bool busy; /* a worker is operating on it */
	bool bucket_ready; /* its snapshot bucket's owner, mode and ACL were set this run */
	struct snapshot *snaps;
	size_t nsnaps, cap;
	/* Delete intents: ids whose subvolume is being removed (index field "pending_delete"). */
	char (*pending)[SNAPSHOT_ID_MAX + 1];
	size_t npending;
	/* A checkpoint recorded before its snapshot was made (index field "creating"): after
	 * a crash its record goes if the subvolume is not there (privd/op_checkpoint.c). */
	char creating[SNAPSHOT_ID_MAX + 1];
	/* Index journal bookkeeping (privd/index_journal.c). */
	char (*removed)[SNAPSHOT_ID_MAX + 1]; /* ids removed since the last save */
	size_t nremoved;
	bool index_on_disk;    /* index.json exists and holds journal_seq */
	bool journal_broken;   /* the journal's tail may be torn or unrecorded: compact next */
	unsigned long long journal_seq; /* seq of the last record saved (journal or index) */
	size_t journal_bytes;  /* size of index.journal */
	size_t index_bytes;    /* size of index.json when last written or read */
};

struct registry {
	struct workspace **ws;
	size_t n, cap;
};

void registry_free(struct registry *r);
struct workspace *registry_add(struct registry *r, const char *ws_id, const char *path);
void registry_remove(struct registry *r, struct workspace *w);
struct workspace *registry_by_id(const struct registry *r, const char *ws_id);
struct workspace *registry_by_path(const struct registry *r, const char *path);

struct snapshot *ws_snapshot_add(struct workspace *w, const char *id);
struct snapshot *ws_snapshot_find(const struct workspace *w, const char *id);
/* Remove s; the removal is recorded for the next index save. */
void ws_snapshot_remove(struct workspace *w, struct snapshot *s);
/* Mark s changed in place (pinned, missing, parent): the next index save writes it. */
void ws_snapshot_touch(struct snapshot *s);
/* Forget what changed (after a full index write). */
void ws_changes_clear(struct workspace *w);
void snapshot_clear(struct snapshot *s);
/*
 * Snapshot reference: exact id first, else a unique prefix. NULL with *ambiguous set to
 * the number of matches (0: none).
 */
struct snapshot *ws_snapshot_resolve(const struct workspace *w, const char *ref, size_t *matches);
/* Sorts by id (callers re-sort by creation) and reports a repeated id. */
bool ws_has_duplicate_ids(struct workspace *w);
/* Creation order (created_at, then id). */
void ws_sort_snapshots(struct workspace *w);
int ws_pending_add(struct workspace *w, const char *id);
void ws_pending_remove(struct workspace *w, const char *id);

#endif
