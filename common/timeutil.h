/* RFC 3339 timestamps as stored in state.json and index.json. */
#ifndef WSCKPT_TIMEUTIL_H
#define WSCKPT_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RFC3339_MAX 40

/* "2026-05-28T03:04:05.123456789Z" for ts (UTC). */
void rfc3339_format(const struct timespec *ts, char *out, size_t outsz);
void rfc3339_now(char *out, size_t outsz);

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)". Returns false on bad input. */
bool rfc3339_parse(const char *s, struct timespec *out);

/* Monotonic milliseconds, for durations. */
long long mono_ms(void);

#endif
