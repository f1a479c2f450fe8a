/* Settling rollbacks that were answered before btrfs committed their exchange. */
#ifndef WSCKPT_ROLLBACK_FINISH_H
#define WSCKPT_ROLLBACK_FINISH_H

#include "privd/privd.h"

/* Commit everything done on the data root so far (one btrfs transaction commit). */
void commit_data_root(struct privd *pd);
/*
 * At start, w's rollback intent (if any) against the disk: an exchange a power cut undid
 * is redone, a replaced state still at the temporary name is kept as the recorded
 * snapshot or discarded as the rollback asked, and the intent is cleared (index saved).
 * 1 if it changed anything, else 0.
 */
int rollback_finish(struct privd *pd, struct workspace *w);
/* Clean stop: one commit covers every open intent, which are then cleared in memory. */
void rollback_intents_settle(struct privd *pd);

#endif
