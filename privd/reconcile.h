/* Startup reconcile: bring the registry, the indexes and the subvolumes into agreement. */
#ifndef WSCKPT_RECONCILE_H
#define WSCKPT_RECONCILE_H

#include "privd/privd.h"

/* Load every index and resolve interrupted inits and missing/reappeared snapshots.
 * Returns the number of changes made (state and indexes are saved when >0). */
int reconcile_all(struct privd *pd);

#endif
