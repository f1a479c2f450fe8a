/* Settling rollbacks that were answered before btrfs committed their exchange. */
#ifndef WSCKPT_ROLLBACK_FINISH_H
#define WSCKPT_ROLLBACK_FINISH_H

#include "privd/privd.h"

/*
 * At start, w's rollback intent (if any) against the disk: an exchange a power cut undid
 * is redone, a replaced state still at the temporary name is kept as the recorded
 * snapshot (a discarded one is left to rollback_tmp_recover, which keeps it too), and
 * once all of it is committed the intent is cleared (index rewritten).
 * 0: no intent; 1: settled; -1: not settled, the intent stays and nothing at the
 * temporary name may be touched before the next start.
 */
int rollback_finish(struct privd *pd, struct workspace *w);
/* Clean stop: one commit covers every open intent, which are then cleared and written. */
void rollback_intents_settle(struct privd *pd);

#endif
