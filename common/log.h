/* Logging to stderr (foreground) or syslog, shared by both daemons. */
#ifndef WSCKPT_LOG_H
#define WSCKPT_LOG_H

#include <stdbool.h>

void log_init(const char *ident, bool foreground, int verbosity);
void log_set_verbosity(int verbosity);
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
