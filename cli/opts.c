/* Option parsing shared by the commands: one getopt_long loop, clear usage errors. */
#include "cli/opts.h"

#include <stdarg.h>
#include <string.h>

#include "cli/jsonmode.h"
#include "cli/output.h"
#include "common/validate.h"

void opt_begin(struct opt_parser *p, const struct cli_cmd *cmd, const char *shortopts,
	       const struct option *longopts, int argc, char **argv)
{
	p->cmd = cmd;
	p->shortopts = shortopts;
	p->longopts = longopts;
	p->argc = argc;
	p->argv = argv;
	p->cur = 1;
	optind = 0; /* full re-initialisation of glibc's getopt state */
	opterr = 0; /* we print our own messages */
}

/* "--name" of the long option in arg (up to any '='), bounded into buf. */
static const char *long_name(const char *arg, char *buf, size_t bufsz)
{
	size_t n = strcspn(arg, "=");

	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, arg, n);
	buf[n] = '\0';
	return buf;
}

static int opt_error(struct opt_parser *p, int ret)
{
	const char *arg = p->cur < p->argc ? p->argv[p->cur] : "";
	bool is_long = strncmp(arg, "--", 2) == 0;
	char name[64];

	if (is_long)
		long_name(arg, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "-%c", optopt > 0x20 && optopt < 0x7f ? optopt : '?');
	if (ret == ':')
		return usage_error(p->cmd, "option '%s' requires a value", name);
	if (is_long && optopt != 0)
		return usage_error(p->cmd, "option '%s' does not take a value", name);
	return usage_error(p->cmd, "unknown option '%s'", name);
}

int opt_next(struct opt_parser *p)
{
	int c;

	p->cur = optind > 0 ? optind : 1;
	c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
	if (c == '?' || c == ':') {
		opt_error(p, c);
		return OPT_USAGE;
	}
	return c;
}

int opt_end(struct opt_parser *p)
{
	if (optind < p->argc)
		return usage_error(p->cmd, "unexpected argument '%s'", p->argv[optind]);
	return 0;
}

int opt_set_once(const struct cli_cmd *cmd, const char **slot, const char *val, const char *name)
{
	if (*slot)
		return usage_error(cmd, "option '%s' given more than once", name);
	*slot = val;
	return 0;
}

int opt_missing(const struct cli_cmd *cmd, const char *what)
{
	return usage_error(cmd, "the required option '%s' was not provided", what);
}

int opt_check_snapshot_id(const struct cli_cmd *cmd, const char *id, const char *opt)
{
	if (snapshot_id_valid(id))
		return 0;
	return usage_error(cmd, "invalid snapshot ID '%s' for '%s': a snapshot ID is 1-%d bytes of "
			   "[A-Za-z0-9._:@+-] and does not start with '.' or '-'",
			   id, opt, SNAPSHOT_ID_MAX);
}

int opt_set_format(const struct cli_cmd *cmd, enum out_format *fmt, const char *val)
{
	enum out_format f;

	if (strcmp(val, "table") == 0)
		f = FMT_TABLE;
	else if (strcmp(val, "json") == 0)
		f = FMT_JSON;
	else
		return usage_error(cmd, "invalid value '%s' for '--format <FORMAT>': expected 'table' "
				   "or 'json'", val);
	if (*fmt != FMT_UNSET)
		return usage_error(cmd, "output format given more than once (--format/--json)");
	*fmt = f;
	json_mode_set(f == FMT_JSON);
	return 0;
}

int opt_format(const struct cli_cmd *cmd, enum out_format *fmt, int c, const char *arg)
{
	return opt_set_format(cmd, fmt, c == OPT_VAL_JSON ? "json" : arg);
}

int opt_json_needs(const struct cli_cmd *cmd, enum out_format fmt, bool flag_given,
		   const char *flag)
{
	if (fmt != FMT_JSON || flag_given)
		return 0;
	return usage_error(cmd, "--format json cannot ask for confirmation: add %s", flag);
}

int usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out_err("Error: %s", msg);
	fputc('\n', stderr);
	if (cmd) {
		out_line(stderr, OUT_PLAIN, "Usage: %s", cmd->usage);
		fputc('\n', stderr);
		out_line(stderr, OUT_PLAIN, "For more information, try 'ws-ckpt %s --help'.", cmd->name);
	} else {
		out_line(stderr, OUT_PLAIN, "Usage: %s", cli_global_usage);
		fputc('\n', stderr);
		out_line(stderr, OUT_PLAIN, "For more information, try 'ws-ckpt --help'.");
	}
	return CLI_EXIT_USAGE;
}

void cmd_help(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "%s\n\nUsage: %s\n\nOptions:\n%s", cmd->about, cmd->usage, cmd->options);
}
