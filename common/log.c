/* Logging: stderr with a level prefix in the foreground, syslog(3) otherwise. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static bool log_fg = true;
static int log_verbosity;
static const char *log_ident = "ws-ckpt";

void log_init(const char *ident, bool foreground, int verbosity)
{
	log_ident = ident;
	log_fg = foreground;
	log_verbosity = verbosity;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_verbosity(int verbosity)
{
	log_verbosity = verbosity;
}

static void log_vemit(int prio, const char *level, const char *fmt, va_list ap)
{
	int saved = errno;

	if (prio == LOG_DEBUG && log_verbosity < 1)
		return;
	if (log_fg) {
		char msg[2048];
		struct timespec ts;
		struct tm tm;

		vsnprintf(msg, sizeof(msg), fmt, ap);
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		/* One write per line so lines of the two daemons never interleave. */
		dprintf(STDERR_FILENO, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
			(int)getpid(), level, msg);
	} else {
		vsyslog(prio, fmt, ap);
	}
	errno = saved;
}

#define LOG_FN(name, prio, level)                  \
	void name(const char *fmt, ...)            \
	{                                          \
		va_list ap;                        \
		va_start(ap, fmt);                 \
		log_vemit(prio, level, fmt, ap);   \
		va_end(ap);                        \
	}

LOG_FN(log_err, LOG_ERR, "ERROR")
LOG_FN(log_warn, LOG_WARNING, "WARN")
LOG_FN(log_info, LOG_INFO, "INFO")
LOG_FN(log_debug, LOG_DEBUG, "DEBUG")
