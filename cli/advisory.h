/* After a successful command: one warning when the caller's storage needs attention. */
#ifndef WSCKPT_CLI_ADVISORY_H
#define WSCKPT_CLI_ADVISORY_H

#include "cli/cli.h"

/* Ask the daemon for status and warn on stderr (never changes the exit code). */
void advisory_check(const struct cli_ctx *ctx);

#endif
