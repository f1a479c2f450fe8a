/* The BtrfsLoop backend: image, loop device, mount. */
#ifndef WSCKPT_BACKEND_LOOP_H
#define WSCKPT_BACKEND_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

/* Fills pd->be mount/data_root/img fields. 0 or -1 with err. */
int backend_loop_bootstrap(struct privd *pd, bool have_state, char *err, size_t errsz);

#endif
