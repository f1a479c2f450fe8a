/*
 * A rollback that discards the replaced state is acknowledged once its intent is in the
 * index; btrfs commits the exchange later (the next snapshot, a clean stop, or its own
 * periodic commit). One that keeps it commits when it snapshots it, and records no
 * intent. The intent is written while the rollback's snapshot is made, before the
 * exchange, and names the subvolume that was the workspace then ("live_subvol"); after a
 * power cut the ids tell what is on disk, because a copy is always newer than the
 * subvolume it replaces:
 *
 *   workspace newer than live_subvol       the exchange is on disk
 *   workspace is live_subvol, tmp newer    the copy was made, the exchange lost: redo
 *   (and a snapshot of the target)
 *   workspace is live_subvol, no newer tmp the snapshot was not made: never answered
 *   workspace older, tmp is live_subvol    the previous rollback's exchange was lost too
 *                                          (its intent was replaced by this one before
 *                                          this snapshot committed it): redo that one
 *
 * "tmp_subvol" is 0 in such a record; a record from before (written after the exchange)
 * names the copy too, and the redo then also requires tmp to be that copy.
 */
#include "privd/rollback_finish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/btrfs_ops.h"
#include "privd/snapshot_keep.h"
#include "privd/state_store.h"

/* Redo an exchange a power cut undid. 0 or -errno. */
static int redo_exchange(struct privd *pd, struct workspace *w, const char *tmp, const char *what)
{
	if (renameat2(pd->data_root_fd, tmp, pd->data_root_fd, w->ws_id, RENAME_EXCHANGE) < 0) {
		int e = errno;
		log_err("%s: %s was acknowledged but is not on disk, and redoing it failed: %s",
			w->ws_id, what, strerror(e));
		return -e;
	}
	log_warn("%s: %s was acknowledged but not on disk after a crash: redone", w->ws_id, what);
	return 0;
}

/* Is the subvolume at tmp a snapshot of the intent's target? A power cut can also bring
 * back a copy an earlier rollback removed without a commit of its own (one whose
 * exchange failed): that one must not be taken for this rollback's. */
static bool tmp_is_copy_of_target(struct privd *pd, const struct workspace *w, const char *tmp)
{
	struct btrfs_util_subvolume_info ti, si;
	char rel[WS_ID_LEN + SNAPSHOT_ID_MAX + 2];

	snprintf(rel, sizeof(rel), "%s/%s", w->ws_id, w->rb.target);
	if (bt_subvol_info(pd->data_root_fd, tmp, &ti) < 0 ||
	    bt_subvol_info(pd->snapshots_fd, rel, &si) < 0)
		return false;
	return memcmp(ti.parent_uuid, si.uuid, sizeof(si.uuid)) == 0;
}

/* Bring the workspace to what the intent's record acknowledged (see the top). 1 when the
 * recorded rollback is carried out, 0 when it never got past its record, -1 on error. */
static int settle_exchange(struct privd *pd, struct workspace *w, const char *tmp,
			   unsigned long long live, unsigned long long tmp_id)
{
	const struct rollback_intent *rb = &w->rb;
	char what[64 + SNAPSHOT_ID_MAX];

	snprintf(what, sizeof(what), "rollback to %s", rb->target);
	if (live > rb->live_subvol)
		return 1;
	if (live == rb->live_subvol) {
		if (tmp_id <= live || (rb->tmp_subvol && tmp_id != rb->tmp_subvol) ||
		    !tmp_is_copy_of_target(pd, w, tmp))
			return 0;
		return redo_exchange(pd, w, tmp, what) < 0 ? -1 : 1;
	}
	if (live > 0 && tmp_id == rb->live_subvol) {
		snprintf(what, sizeof(what), "the rollback before the one to %s", rb->target);
		return redo_exchange(pd, w, tmp, what) < 0 ? -1 : 0;
	}
	log_err("workspace %s is neither the subvolume its rollback to %s replaced nor a newer one; leaving it as it is",
		w->ws_id, rb->target);
	return 0;
}

int rollback_finish(struct privd *pd, struct workspace *w)
{
	struct rollback_intent *rb = &w->rb;
	unsigned long long live, tmp_id;
	char tmp[64];
	int rc, done;

	if (!rb->active)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.rollback-tmp", w->ws_id);
	if ((rc = bt_subvol_id(pd->data_root_fd, w->ws_id, &live)) < 0 ||
	    (rc = bt_subvol_id(pd->data_root_fd, tmp, &tmp_id)) < 0) {
		log_err("cannot read the subvolumes of %s to settle its rollback to %s (%s): left for the next start",
			w->ws_id, rb->target, strerror(-rc));
		return -1;
	}
	done = settle_exchange(pd, w, tmp, live, tmp_id);
	if (done < 0)
		return -1;
	/* Whatever is left at tmp, the replaced state the caller asked to discard or a later
	 * unanswered rollback's temporary, rollback_tmp_recover keeps: the crash may have come
	 * before the answer, and an unacknowledged discard must not cost data.
	 * The intent goes only once what it protects is committed, including an exchange the
	 * previous run made that btrfs has not committed yet (a kill -9 commits nothing). */
	rc = bt_commit(pd->data_root_fd, true);
	if (rc < 0) {
		log_err("cannot commit the rollback of %s to %s: %s (left for the next start)",
			w->ws_id, rb->target, strerror(-rc));
		return -1;
	}
	/* The record the rollback wrote before its snapshot kept the head of before; later
	 * ones have the head that followed (a delete of the target may have moved it on). */
	if (done && !rb->head_moved)
		snprintf(w->head, sizeof(w->head), "%s", rb->target);
	memset(rb, 0, sizeof(*rb));
	(void)index_save(pd, w); /* reconcile_all folds it into index.json */
	return 1;
}

void rollback_intents_settle(struct privd *pd)
{
	bool any = false;
	int rc;

	for (size_t i = 0; i < pd->reg.n && !any; i++)
		any = pd->reg.ws[i]->rb.active;
	if (!any || pd->data_root_fd < 0)
		return;
	rc = bt_commit(pd->data_root_fd, true);
	if (rc < 0) {
		log_err("cannot commit pending rollbacks at stop: %s (the next start settles them)",
			strerror(-rc));
		return;
	}
	for (size_t i = 0; i < pd->reg.n; i++) {
		struct workspace *w = pd->reg.ws[i];

		if (!w->rb.active)
			continue;
		memset(&w->rb, 0, sizeof(w->rb));
		/* Written now: index_compact_all skips an index without journal lines. */
		if (index_compact(pd, w) < 0)
			log_err("cannot write the index of %s at stop", w->ws_id);
	}
}
