/* Interactive yes/no questions on the terminal. */
#ifndef WSCKPT_CLI_CONFIRM_H
#define WSCKPT_CLI_CONFIRM_H

#include <stdbool.h>

/* True when stdin is a terminal we can ask on. */
bool confirm_possible(void);

/* Print prompt on stderr, read one line from stdin; true for y/yes (any case). */
bool confirm_ask(const char *prompt);

#endif
