/* Test-only crash injection (see crashpoint.h). Empty in release builds. */
#include "common/crashpoint.h"

#ifdef WSCKPT_TEST_HOOKS
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void crash_point(const char *name)
{
	static unsigned long hits;
	const char *want = getenv("WSCKPT_CRASH_AT"), *hash;
	size_t n;

	if (!want)
		return;
	hash = strchr(want, '#');
	n = hash ? (size_t)(hash - want) : strlen(want);
	if (strlen(name) != n || strncmp(want, name, n) != 0)
		return;
	/* name#K: the K-th time the point is reached (counted per process) */
	if (!hash || ++hits >= strtoul(hash + 1, NULL, 10))
		_exit(86);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int crashpoint_unused;
#endif
