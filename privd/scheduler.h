/* Periodic work in privd's event loop: auto-cleanup. */
#ifndef WSCKPT_SCHEDULER_H
#define WSCKPT_SCHEDULER_H

#include "privd/privd.h"

/* (Re)arm the timers from the current configuration (start-up and every reload). */
void scheduler_arm(struct privd *pd);
void scheduler_stop(void);

#endif
