/* The -w/--workspace argument: a ws-id, or a path resolved the way the daemon expects. */
#ifndef WSCKPT_CLI_WSARG_H
#define WSCKPT_CLI_WSARG_H

#include <stddef.h>

#include "cli/cli.h"

/*
 * Resolve arg into out (outsz bytes). A ws-id ("ws-" + 6 lowercase hex) is kept as is.
 * Anything else is a path: made absolute against the current directory, normalised
 * lexically ('.', duplicate and trailing '/' dropped, '..' removes the preceding
 * component), then the parent directory is canonicalised with realpath(3) and the final
 * component (the workspace symlink, never followed) is appended. If the parent cannot be
 * resolved the normalised absolute path is used.
 * Returns 0, or CLI_EXIT_USAGE / CLI_EXIT_FAIL after printing the problem.
 */
int wsarg_resolve(const struct cli_cmd *cmd, const char *arg, char *out, size_t outsz);

/* Lexical normalisation of an absolute path (exposed for tests). 0, or -1 if abs is not
 * absolute or the result does not fit. */
int wsarg_normalize(const char *abs, char *out, size_t outsz);

#endif
