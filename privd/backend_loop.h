/* The BtrfsLoop backend: image, loop device, mount. */
#ifndef WSCKPT_BACKEND_LOOP_H
#define WSCKPT_BACKEND_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "privd/privd.h"

/* Fills pd->be mount/data_root/img fields. 0 or -1 with err. With pd->mount_mode ==
 * MOUNT_NEVER an unmounted image is an error: no loop device, no mount(2), no mkfs. */
int backend_loop_bootstrap(struct privd *pd, bool have_state, char *err, size_t errsz);

#endif
