/* Validation of names that cross trust boundaries: snapshot ids, ws-ids, paths. */
#ifndef WSCKPT_VALIDATE_H
#define WSCKPT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define SNAPSHOT_ID_MAX 128
#define WS_ID_LEN 9 /* "ws-" + 6 hex */
#define WS_PATH_MAX 4096

/* 1..128 bytes of [A-Za-z0-9._:@+-], not starting with '.' or '-'. */
bool snapshot_id_valid(const char *id);

/* "ws-" followed by exactly 6 lowercase hex digits. */
bool ws_id_valid(const char *id);

/*
 * Lexically normalise an absolute path into out: collapse duplicate '/', drop '.'
 * components and a trailing '/'. '..' components, relative paths, embedded
 * control characters and results that do not fit are refused (returns false).
 */
bool path_normalize(const char *in, char *out, size_t outsz);

/* True when path equals dir or lies below it (both normalised, absolute). */
bool path_is_within(const char *path, const char *dir);


/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF) over len bytes. */
bool utf8_valid(const char *s, size_t len);
#endif
