/* Turning stray subvolumes into recorded snapshots: rollback leftovers and orphans. */
#ifndef WSCKPT_SNAPSHOT_KEEP_H
#define WSCKPT_SNAPSHOT_KEEP_H

#include <stddef.h>

#include "privd/bucket_scan.h"
#include "privd/privd.h"

/* "<prefix>-<UTC yyyymmddThhmmss>[-n]", unique within w. */
void snapshot_auto_id(const struct workspace *w, const char *prefix, char *out, size_t outsz);
/* Keep data_root/<tmp> as a read-only snapshot in the bucket named id (or the first free
 * "<id>-<n>", written back to id), its data written and committed; record it
 * (index saved) and remove tmp; a tmp holding nested subvolumes is also kept whole as an
 * "auto-nested" snapshot. 0, or -errno with *kept telling whether the snapshot exists. */
int snapshot_keep_subvol(struct privd *pd, struct workspace *w, int bucket, const char *tmp,
			 char *id, size_t idsz, const char *message, bool *kept);
/* A <ws_id>.rollback-tmp left by an interrupted rollback is kept as a snapshot, or removed
 * when one of the newest snapshots was taken from it and it has not changed since. */
int rollback_tmp_recover(struct privd *pd, struct workspace *w, int bucket, const char *tmp);
/* Record subvolumes in the bucket (open at fd bucket, listed in bs, recorded names
 * marked matched) that the index does not name (crash before the index write), with
 * their btrfs creation time. Returns how many were adopted. */
int snapshot_adopt_orphans(struct privd *pd, struct workspace *w, int bucket,
			   const struct bucket_scan *bs);

#endif
