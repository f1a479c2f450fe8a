/* state.json and indexes/<ws_id>/index.json: load and durable save. */
#ifndef WSCKPT_STATE_STORE_H
#define WSCKPT_STATE_STORE_H

#include "privd/privd.h"

#define STATE_FILE "state.json"
#define STATE_MAX_BYTES (64u * 1024u * 1024u)

/* 1: loaded, 0: no state.json, -1: present but unreadable/corrupt (err filled). */
int state_load(struct privd *pd, char *err, size_t errsz);
/* Write state.json atomically. 0 or -errno. */
int state_save(struct privd *pd);

/* Load indexes/<ws_id>/index.json into w. 0, or -errno (-ENOENT: no index yet). */
int index_load(struct privd *pd, struct workspace *w, char *err, size_t errsz);
/* Write indexes/<ws_id>/index.json atomically (creating the directory). 0 or -errno. */
int index_save(struct privd *pd, const struct workspace *w);

#endif
