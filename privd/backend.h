/* Backend selection and bootstrap: BtrfsLoop (our image on a loop device) or BtrfsBase. */
#ifndef WSCKPT_BACKEND_H
#define WSCKPT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

/*
 * Decide the backend (config override > persisted > auto-detect), make it available
 * (image, loop, mount) and open data_root_fd / snapshots_fd. have_state: state.json was
 * loaded, so a missing image is device loss, never a reason to format a new one.
 * Returns 0 or -1 with a message for the operator in err.
 */
int backend_bootstrap(struct privd *pd, bool have_state, char *err, size_t errsz);

#endif
