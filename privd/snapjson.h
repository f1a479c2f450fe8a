/* The JSON shape of a snapshot as clients see it (list entries). */
#ifndef WSCKPT_SNAPJSON_H
#define WSCKPT_SNAPJSON_H

#include "common/jsonbuf.h"
#include "privd/registry.h"

void snapshot_entry_write(struct jsonbuf *b, const struct workspace *w, const struct snapshot *s);

#endif
