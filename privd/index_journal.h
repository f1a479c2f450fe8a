/*
 * The index journal: indexes/<ws_id>/index.journal holds, one JSON line per save, what
 * changed since index.json was last written, so a checkpoint costs one small append
 * and fdatasync however many snapshots the workspace has.
 */
#ifndef WSCKPT_INDEX_JOURNAL_H
#define WSCKPT_INDEX_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

#define INDEX_JOURNAL_FILE "index.journal"
/* The journal is folded into index.json once it is larger than this or than index.json. */
#define INDEX_JOURNAL_MIN_COMPACT ((size_t)256 * 1024)

/* Durably save w's changes since the last save (0 or -errno; on failure the next save
 * rewrites index.json whole). */
int index_save(struct privd *pd, struct workspace *w);
/*
 * index_save in two halves, so that the record's fdatasync runs while the caller works
 * on (a discarding rollback's btrfs snapshot): begin writes w's changes as they are now
 * and starts the sync; end waits for it. Between the two, w's snapshot records must not
 * change (the fields every line carries whole may: the next save writes them). begin
 * returns 1 when the save cannot be split (a compaction is due, no native AIO): the
 * caller saves with index_save instead, and does not call end.
 */
struct index_save_async {
	int fd;
	size_t len;
	bool async;  /* the sync runs on the AIO context */
	int sync_rc; /* otherwise it already ran: its result */
};
int index_save_begin(struct privd *pd, struct workspace *w, struct index_save_async *s);
/* 0 or -errno, as index_save. */
int index_save_end(struct privd *pd, struct workspace *w, struct index_save_async *s);
/* Rewrite index.json from w and remove the journal. 0 or -errno. */
int index_compact(struct privd *pd, struct workspace *w);
/* Compact every workspace that has a journal (clean shutdown: index.json alone is then
 * the whole index, as the Rust ws-ckpt expects). */
void index_compact_all(struct privd *pd);

/* After index.json was parsed into w: apply the journal's records newer than
 * w->journal_seq and fold them into index.json. 0, or -errno with err filled. */
int index_journal_replay(struct privd *pd, struct workspace *w, char *err, size_t errsz);
/*
 * The replay without the file: apply the complete lines of text[0..len) to w. Stops at
 * the first line that is not a valid record (a torn write at the tail). Returns the
 * number of bytes of valid lines, or -ENOMEM.
 */
long index_journal_apply_text(struct workspace *w, const char *text, size_t len);

#endif
