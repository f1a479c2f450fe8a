/* A workspace's snapshot bucket: <data_root>/snapshots/<ws_id>. */
#ifndef WSCKPT_BUCKET_H
#define WSCKPT_BUCKET_H

#include "privd/privd.h"

/*
 * Open (creating if needed) the bucket: root-owned, mode 0750 plus a POSIX ACL entry
 * giving the workspace owner r-x, so the owner can browse their snapshots and nobody
 * else can list or enter them. fd or -errno.
 */
int bucket_open(struct privd *pd, struct workspace *w);

#endif
