/* privd's end of the imsg channel to frontd, and how operations answer requests. */
#ifndef WSCKPT_CHANNEL_H
#define WSCKPT_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/errcode.h"
#include "privd/privd.h"

struct cJSON;

/* Identifies the request an answer belongs to; copy it to answer later (workers). */
struct req_ctx {
	uint32_t session;
	uint64_t req_id;
	uint32_t generation; /* channel incarnation: answers to a dead frontd are dropped */
	/* For the one log line per request: who asked what, and how it ended. */
	uint32_t op;
	uint32_t uid;
	long long start_ms;
	char target[96]; /* workspace reference (truncated) */
	bool advisory;   /* PSF_ADVISORY: a success carries the storage advisory */
};

int channel_open(struct privd *pd, int fd);
void channel_close(void);
bool channel_is_open(void);
uint32_t channel_generation(void);

/* Send a result object (consumed) as the success answer. */
void reply_ok(const struct req_ctx *rc, struct cJSON *result);
/* The same with the result already rendered: text[0..len) is one JSON value (freed here). */
void reply_ok_text(const struct req_ctx *rc, char *text, size_t len);
void reply_err(const struct req_ctx *rc, enum ws_err code, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* diff: hand frontd the read end of the stream; reply_stream_end() when the writer is done. */
void reply_stream(const struct req_ctx *rc, int fd);
void reply_stream_end(const struct req_ctx *rc);

/* Called when frontd's channel reaches EOF or breaks (set by main). */
extern void (*channel_on_close)(void);

#endif
