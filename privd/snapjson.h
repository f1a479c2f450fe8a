/* The JSON shape of a snapshot as clients see it (list entries). */
#ifndef WSCKPT_SNAPJSON_H
#define WSCKPT_SNAPJSON_H

#include "privd/registry.h"

struct cJSON;

struct cJSON *snapshot_entry_json(const struct workspace *w, const struct snapshot *s);

#endif
