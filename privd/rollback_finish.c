/*
 * A rollback is acknowledged once its intent is in the index; btrfs commits the exchange
 * later (the next snapshot, a clean stop, or its own periodic commit). After a power cut
 * the subvolume ids recorded in the intent tell which side of the exchange is on disk:
 * the copy of the target is newer than the state it replaced.
 */
#include "privd/rollback_finish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/bucket.h"
#include "privd/snapshot_keep.h"
#include "privd/state_store.h"

void commit_data_root(struct privd *pd)
{
	/* fsync of a btrfs directory holding a renamed subvolume is a full transaction commit. */
	if (fsync(pd->data_root_fd) < 0)
		log_warn("fsync of data root failed: %s", strerror(errno));
}

/*
 * The replaced state is still at tmp: keep it as the snapshot the rollback recorded. A
 * discarded one is left for rollback_tmp_recover to keep as well: the crash may have come
 * before the answer, and an unacknowledged discard must not cost data.
 */
static int settle_replaced(struct privd *pd, struct workspace *w, const char *tmp)
{
	int bucket, rc;

	if (!w->rb.keep_as[0])
		return 0;
	bucket = bucket_open(pd, w);
	if (bucket < 0)
		return bucket;
	rc = snapshot_keep_subvol(pd, w, bucket, tmp, w->rb.keep_as, "auto: state before rollback");
	close(bucket);
	return rc;
}

/* Moved into the bucket, maybe not yet frozen when the power went. */
static void freeze_kept(struct privd *pd, struct workspace *w)
{
	char err[512];
	int bucket = bucket_open(pd, w);

	if (bucket < 0)
		return;
	if (bt_is_subvol(bucket, w->rb.keep_as) == 1 &&
	    bt_set_readonly(bucket, w->rb.keep_as, true, err, sizeof(err)) < 0)
		log_err("cannot make snapshot %s/%s read-only: %s", w->ws_id, w->rb.keep_as, err);
	close(bucket);
}

int rollback_finish(struct privd *pd, struct workspace *w)
{
	struct rollback_intent *rb = &w->rb;
	unsigned long long live, tmp_id;
	char tmp[64];
	bool changed = false;

	if (!rb->active)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.rollback-tmp", w->ws_id);
	live = bt_subvol_id(pd->data_root_fd, w->ws_id);
	tmp_id = bt_subvol_id(pd->data_root_fd, tmp);
	if (live == rb->live_subvol && tmp_id == rb->tmp_subvol) {
		if (renameat2(pd->data_root_fd, tmp, pd->data_root_fd, w->ws_id, RENAME_EXCHANGE) < 0) {
			log_err("rollback of %s to %s was acknowledged but is not on disk, and redoing it failed: %s",
				w->ws_id, rb->target, strerror(errno));
			return 0; /* intent kept: the next start tries again */
		}
		log_warn("rollback of %s to %s was acknowledged but not on disk after a crash: redone",
			 w->ws_id, rb->target);
		live = rb->tmp_subvol;
		tmp_id = rb->live_subvol;
		changed = true;
	}
	if (live == rb->tmp_subvol && tmp_id == rb->live_subvol) {
		if (settle_replaced(pd, w, tmp) < 0)
			return changed;
		changed = true;
	} else if (live == rb->tmp_subvol && rb->keep_as[0]) {
		freeze_kept(pd, w);
	}
	/* Anything else left at tmp is not this rollback's: kept by rollback_tmp_recover. */
	if (changed)
		commit_data_root(pd);
	memset(rb, 0, sizeof(*rb));
	/* At start the journal has just been folded: keep index.json whole. */
	index_compact(pd, w);
	return 1;
}

void rollback_intents_settle(struct privd *pd)
{
	bool any = false;

	for (size_t i = 0; i < pd->reg.n && !any; i++)
		any = pd->reg.ws[i]->rb.active;
	if (!any || pd->data_root_fd < 0)
		return;
	commit_data_root(pd);
	for (size_t i = 0; i < pd->reg.n; i++)
		memset(&pd->reg.ws[i]->rb, 0, sizeof(pd->reg.ws[i]->rb));
}
