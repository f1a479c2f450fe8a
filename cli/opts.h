/* Per-command option parsing (getopt_long) with our usage-error messages and --help. */
#ifndef WSCKPT_CLI_OPTS_H
#define WSCKPT_CLI_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"

#define OPT_USAGE (-2) /* opt_next: a usage error was printed */

struct opt_parser {
	const struct cli_cmd *cmd;
	const char *shortopts; /* starts with "+:" (no permutation, ':' on a missing value) */
	const struct option *longopts;
	int argc;
	char **argv;
	int cur; /* index of the argument the last opt_next call looked at */
};

void opt_begin(struct opt_parser *p, const struct cli_cmd *cmd, const char *shortopts,
	       const struct option *longopts, int argc, char **argv);
/* The next option's val (its value in optarg), -1 at the end, or OPT_USAGE. */
int opt_next(struct opt_parser *p);
/* After opt_next returned -1: CLI_EXIT_USAGE (printed) if arguments are left, else 0. */
int opt_end(struct opt_parser *p);

/* Store val in *slot; a second occurrence of the option is a usage error. Returns 0 or CLI_EXIT_USAGE. */
int opt_set_once(const struct cli_cmd *cmd, const char **slot, const char *val, const char *name);

/* Usage error "the required option '<what>' was not provided". */
int opt_missing(const struct cli_cmd *cmd, const char *what);
/* 0 if id is a valid snapshot id, else a usage error naming the rule and opt. */
int opt_check_snapshot_id(const struct cli_cmd *cmd, const char *id, const char *opt);

enum out_format { FMT_UNSET, FMT_TABLE, FMT_JSON };
/* --format VALUE (exactly "table" or "json") or --json (val "json"); once only. 0 or CLI_EXIT_USAGE. */
int opt_set_format(const struct cli_cmd *cmd, enum out_format *fmt, const char *val);

/* The --format/--json entries of a command's longopts table, and the vals they return. */
#define OPT_VAL_FORMAT 0x1f0
#define OPT_VAL_JSON 0x1f1
#define OPT_FORMAT_LONGOPTS \
	{"format", required_argument, NULL, OPT_VAL_FORMAT}, {"json", no_argument, NULL, OPT_VAL_JSON}
/* c is OPT_VAL_FORMAT or OPT_VAL_JSON: record it (opt_set_format). 0 or CLI_EXIT_USAGE. */
int opt_format(const struct cli_cmd *cmd, enum out_format *fmt, int c, const char *arg);
/* In JSON mode a command cannot ask: without its no-prompt flag that is a usage error. */
int opt_json_needs(const struct cli_cmd *cmd, enum out_format fmt, bool flag_given,
		   const char *flag);

/* Print "Error: ..." plus the usage line to stderr; returns CLI_EXIT_USAGE. cmd may be NULL. */
int usage_error(const struct cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The --help text of cmd. */
void cmd_help(const struct cli_cmd *cmd, FILE *f);

/* The usage line and help of the program as a whole (defined in main.c). */
extern const char cli_global_usage[];

#endif
