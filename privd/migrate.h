/* Rebuilding the registry without a usable state.json: v0 layout migration and recovery. */
#ifndef WSCKPT_MIGRATE_H
#define WSCKPT_MIGRATE_H

#include "privd/privd.h"

/* Move v0 indexes (<snapshots_root>/<ws_id>/index.json) to indexes/<ws_id>/index.json. */
int migrate_v0_indexes(struct privd *pd);
/* Register every workspace that has indexes/<ws_id>/index.json and a live subvolume. */
int registry_rebuild_from_indexes(struct privd *pd);
/* Keep a bad state.json aside as state.json.corrupt-<time>. 0 or -errno. */
int state_set_aside(struct privd *pd, char *aside, size_t asidesz);

#endif
