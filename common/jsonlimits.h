/* Structural limits checked on JSON text before it is handed to a recursive parser. */
#ifndef WSCKPT_JSONLIMITS_H
#define WSCKPT_JSONLIMITS_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 32

/* True when no array/object nesting in text[0..len) exceeds max_depth (strings skipped). */
bool json_depth_ok(const char *text, size_t len, int max_depth);

/* True when a string in text contains the escape \u0000: C strings would silently cut it. */
bool json_has_nul_escape(const char *text, size_t len);

#endif
