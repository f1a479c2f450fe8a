/* Workspace argument resolution on the client side (see docs/PROTOCOL.md, "Workspace references"). */
#include "cli/wsarg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/opts.h"
#include "cli/output.h"
#include "common/validate.h"

static bool is_blank(const char *s)
{
	for (; *s; s++) {
		if (!isspace((unsigned char)*s))
			return false;
	}
	return true;
}

/* Join cwd and a relative arg into out. Returns 0 or CLI_EXIT_* (printed). */
static int make_absolute(const struct cli_cmd *cmd, const char *arg, char *out, size_t outsz)
{
	char cwd[PATH_MAX];
	int n;

	if (arg[0] == '/')
		n = snprintf(out, outsz, "%s", arg);
	else if (!getcwd(cwd, sizeof(cwd))) {
		out_err("Error: Cannot determine the current directory to resolve '%s': %s", arg,
			strerror(errno));
		out_hint("  Pass the workspace as an absolute path or a workspace ID.");
		return CLI_EXIT_FAIL;
	} else {
		n = snprintf(out, outsz, "%s/%s", cwd, arg);
	}
	if (n < 0 || (size_t)n >= outsz)
		return usage_error(cmd, "workspace path is too long (at most %zu bytes)", outsz - 1);
	return 0;
}

int wsarg_normalize(const char *abs, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = abs;

	if (abs[0] != '/' || outsz < 2)
		return -1;
	while (*p) {
		const char *start;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		p += strcspn(p, "/");
		len = (size_t)(p - start);
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped component */
			continue;
		}
		if (o + 1 + len + 1 > outsz)
			return -1;
		out[o++] = '/';
		memcpy(out + o, start, len);
		o += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

/* Canonicalise the parent of the normalised path norm into out; false if it cannot be. */
static bool canonical_parent(const char *norm, char *out, size_t outsz)
{
	const char *slash = strrchr(norm, '/');
	char parent[PATH_MAX], *real;
	size_t plen = (size_t)(slash - norm);
	int n;

	if (strcmp(norm, "/") == 0 || plen >= sizeof(parent))
		return false;
	if (plen == 0)
		plen = 1; /* parent is "/" */
	memcpy(parent, norm, plen);
	parent[plen] = '\0';
	real = realpath(parent, NULL);
	if (!real)
		return false;
	n = snprintf(out, outsz, "%s/%s", strcmp(real, "/") == 0 ? "" : real, slash + 1);
	free(real);
	return n >= 0 && (size_t)n < outsz;
}

int wsarg_resolve(const struct cli_cmd *cmd, const char *arg, char *out, size_t outsz)
{
	char abs[PATH_MAX * 2], norm[PATH_MAX];
	int rc;

	if (is_blank(arg))
		return usage_error(cmd, "invalid value for '--workspace': workspace argument must "
				   "not be empty or whitespace");
	if (ws_id_valid(arg)) {
		if ((size_t)snprintf(out, outsz, "%s", arg) >= outsz)
			return usage_error(cmd, "workspace ID does not fit");
		return 0;
	}
	rc = make_absolute(cmd, arg, abs, sizeof(abs));
	if (rc != 0)
		return rc;
	if (wsarg_normalize(abs, norm, sizeof(norm)) != 0)
		return usage_error(cmd, "workspace path is too long (at most %zu bytes)",
				   sizeof(norm) - 1);
	if (canonical_parent(norm, out, outsz))
		return 0;
	if ((size_t)snprintf(out, outsz, "%s", norm) >= outsz)
		return usage_error(cmd, "workspace path is too long (at most %zu bytes)", outsz - 1);
	return 0;
}
