/* Asking the user before destructive operations. */
#include "cli/confirm.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool confirm_possible(void)
{
	return isatty(STDIN_FILENO) == 1;
}

/* Trim leading and trailing whitespace in place; returns the start. */
static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

bool confirm_ask(const char *prompt)
{
	char buf[64], *ans;

	fputs(prompt, stderr);
	fflush(stderr);
	if (!fgets(buf, sizeof(buf), stdin)) {
		fputc('\n', stderr); /* EOF (Ctrl-D): end the prompt line */
		return false;
	}
	if (!strchr(buf, '\n') && strlen(buf) == sizeof(buf) - 1) {
		/* Longer than buf: drop the rest of the line, it is not a "yes". */
		int c;

		while ((c = getchar()) != EOF && c != '\n')
			;
		return false;
	}
	ans = trim(buf);
	return strcasecmp(ans, "y") == 0 || strcasecmp(ans, "yes") == 0;
}
