/* Test-only crash injection (see crashpoint.h). Empty in release builds. */
#include "common/crashpoint.h"

#ifdef WSCKPT_TEST_HOOKS
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void crash_point(const char *name)
{
	const char *want = getenv("WSCKPT_CRASH_AT");

	if (want && strcmp(want, name) == 0)
		_exit(86);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int crashpoint_unused;
#endif
