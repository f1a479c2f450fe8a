/* state.json and indexes/<ws_id>/index.json: load and durable save. */
#ifndef WSCKPT_STATE_STORE_H
#define WSCKPT_STATE_STORE_H

#include <cjson/cJSON.h>

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

/* Load indexes/<ws_id>/index.json into w and replay its journal (index_journal_replay).
 * 0, or -errno (-ENOENT: no index yet). */
int index_load(struct privd *pd, struct workspace *w, char *err, size_t errsz);
/* index_load's parser without the file: text[0..len) (it ends at a NUL) into w's snapshots.
 * 0, or -errno with err filled (w may then hold part of the snapshots). */
int index_parse_text(struct workspace *w, const char *text, size_t len, char *err, size_t errsz);

/* One snapshot record (the value under "snapshots"."<id>"), named by s->string, added to w.
 * 0, or -1 if invalid or out of memory. */
int index_record_load(struct workspace *w, const cJSON *s);
/* The record of s as index.json stores it; NULL when out of memory. */
cJSON *index_record_json(const struct snapshot *s);
/* Replace w's delete intents with the valid ids of a JSON array. 0 or -ENOMEM. */
int index_pending_load(struct workspace *w, const cJSON *arr);
/* The "creating" field (absent, or not an id: none). */
void index_creating_load(struct workspace *w, const cJSON *v);
/* A "journal_seq"/"seq" value: an exact non-negative integer, else 0. */
unsigned long long journal_seq_value(const cJSON *v);
/* indexes/<ws_id>, created if needed. fd or -errno. */
int index_dir_open(struct privd *pd, const char *ws_id);
/* Write dirfd/index.json atomically from w (with w->journal_seq). 0 or -errno. */
int index_write_full(struct privd *pd, struct workspace *w, int dirfd);

/* Save w's index: a journal record, or the whole file (index_journal.c). */
#include "privd/index_journal.h"

#endif
