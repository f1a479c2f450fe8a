/*
 * The index journal: indexes/<ws_id>/index.journal holds, one JSON line per save, what
 * changed since index.json was last written, so a checkpoint costs one small append
 * and fdatasync however many snapshots the workspace has.
 */
#ifndef WSCKPT_INDEX_JOURNAL_H
#define WSCKPT_INDEX_JOURNAL_H

#include <stddef.h>

#include "privd/privd.h"

#define INDEX_JOURNAL_FILE "index.journal"
/* The journal is folded into index.json once it is larger than this or than index.json. */
#define INDEX_JOURNAL_MIN_COMPACT ((size_t)256 * 1024)

/* Durably save w's changes since the last save (0 or -errno; on failure the next save
 * rewrites index.json whole). */
int index_save(struct privd *pd, struct workspace *w);
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
