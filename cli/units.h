/* Human-readable quantities for table output. */
#ifndef WSCKPT_CLI_UNITS_H
#define WSCKPT_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "1023 B", "1.0 KiB", "12.3 MiB" ... "16.0 EiB" (binary units, one decimal). */
void units_bytes(uint64_t n, char *out, size_t outsz);

#endif
