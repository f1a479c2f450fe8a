/* After a successful command: one warning when the caller's storage needs attention. */
#ifndef WSCKPT_CLI_ADVISORY_H
#define WSCKPT_CLI_ADVISORY_H

#include "cli/cli.h"

/* Warn on stderr from the last reply's advisory, or from a status request when the daemon
 * sent none (never changes the exit code). */
void advisory_check(const struct cli_ctx *ctx);

#endif
