/* The "rollback_intent" field of an index (struct rollback_intent): JSON form and back. */
#ifndef WSCKPT_ROLLBACK_INTENT_H
#define WSCKPT_ROLLBACK_INTENT_H

#include <cjson/cJSON.h>

#include "privd/registry.h"

/* Its JSON value: an object when active, null when not; NULL when out of memory. */
cJSON *rollback_intent_json(const struct rollback_intent *rb);
/* j absent or null: inactive. 0, or -1 if j is not a valid intent (rb left unchanged). */
int rollback_intent_load(struct rollback_intent *rb, const cJSON *j);

#endif
