/* state.json and indexes/<ws_id>/index.json: load and durable save. */
#ifndef WSCKPT_STATE_STORE_H
#define WSCKPT_STATE_STORE_H

#include "privd/privd.h"

#define STATE_FILE "state.json"
#define STATE_MAX_BYTES (64u * 1024u * 1024u)

/* 1: loaded, 0: no state.json, -1: unreadable (I/O), -2: corrupt (err filled). */
int state_load(struct privd *pd, char *err, size_t errsz);
/* state_load's parser without the file: text[0..len) (it ends at a NUL, as the file's
 * C string does) into pd->be and pd->reg. 0, or -1 if invalid (pd->reg and pd->be cleared). */
int state_parse_text(struct privd *pd, const char *text, size_t len);
/* Write state.json atomically. 0 or -errno. */
int state_save(struct privd *pd);

/* Load indexes/<ws_id>/index.json into w. 0, or -errno (-ENOENT: no index yet). */
int index_load(struct privd *pd, struct workspace *w, char *err, size_t errsz);
/* index_load's parser without the file: text[0..len) (it ends at a NUL) into w's snapshots.
 * 0, or -errno with err filled (w may then hold part of the snapshots). */
int index_parse_text(struct workspace *w, const char *text, size_t len, char *err, size_t errsz);
/* Write indexes/<ws_id>/index.json atomically (creating the directory). 0 or -errno. */
int index_save(struct privd *pd, const struct workspace *w);

#endif
