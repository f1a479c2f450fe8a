/* Runtime configuration: reload (SIGHUP or request) and admin updates of the file. */
#ifndef WSCKPT_CONFIG_OPS_H
#define WSCKPT_CONFIG_OPS_H

#include <stddef.h>

#include "privd/privd.h"

/* Re-read the config file; on error the running config is unchanged and err names
 * file:line. Only runtime keys change; paths, accounts and the backend are fixed. */
int config_reload(struct privd *pd, char *err, size_t errsz);

#endif
