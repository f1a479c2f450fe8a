/* ws-ckpt: command-line client of ws-ckptd. Global options, then one command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/advisory.h"
#include "cli/cli.h"
#include "cli/jsonmode.h"
#include "cli/opts.h"
#include "cli/output.h"

const char cli_global_usage[] = "ws-ckpt [-S <SOCKET>] <COMMAND> [ARGS]";

static const struct cli_cmd *const commands[] = {
	&cmd_init, &cmd_checkpoint, &cmd_rollback, &cmd_delete,
	&cmd_list, &cmd_diff,       &cmd_pin,      &cmd_unpin,   &cmd_cleanup,
	&cmd_recover, &cmd_unregister, &cmd_config,  &cmd_reload,  &cmd_status,  &cmd_version, NULL,
};

static const struct option global_longopts[] = {
	{"socket", required_argument, NULL, 'S'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void global_help(FILE *f)
{
	fprintf(f, "btrfs workspace snapshot manager\n\nUsage: %s\n\nCommands:\n",
		cli_global_usage);
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "  %-11s %s\n", commands[i]->name, commands[i]->about);
	fprintf(f, "  %-11s %s\n", "help", "Print this message or the help of the given command");
	fprintf(f, "\nOptions:\n"
		   "  -S, --socket <SOCKET>  Daemon socket [env: " CLI_SOCKET_ENV "] "
		   "[default: " CLI_DEFAULT_SOCKET "]\n"
		   "  -h, --help             Print help\n"
		   "  -V, --version          Print version\n");
}

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; commands[i]; i++) {
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	}
	return NULL;
}

/* "ws-ckpt help [COMMAND]". */
static int help_command(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2) {
		global_help(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2)
		return usage_error(NULL, "unexpected argument '%s'", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	cmd_help(cmd, stdout);
	return CLI_EXIT_OK;
}

/*
 * Parse the global options. Returns -1 to go on (*first = index of the command),
 * else an exit code.
 */
static int global_parse(int argc, char **argv, struct cli_ctx *ctx, int *first)
{
	struct opt_parser p;
	const char *sock = NULL;
	int c, rc;

	opt_begin(&p, NULL, "+:S:hV", global_longopts, argc, argv);
	while ((c = opt_next(&p)) != -1) {
		switch (c) {
		case 'h':
			global_help(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("ws-ckpt %s\n", WSCKPT_VERSION);
			return CLI_EXIT_OK;
		case 'S':
			if ((rc = opt_set_once(NULL, &sock, optarg, "--socket")) != 0)
				return rc;
			if (sock[0] == '\0')
				return usage_error(NULL, "invalid value for '--socket': the socket path "
							 "must not be empty");
			break;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (!sock) {
		sock = getenv(CLI_SOCKET_ENV);
		if (!sock || sock[0] == '\0')
			sock = CLI_DEFAULT_SOCKET;
	}
	ctx->socket_path = sock;
	*first = optind;
	return -1;
}

/* A failed write to stdout (full disk, closed pipe) must not look like success. */
static int flush_stdout(int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "Error: Failed to write output: %s\n", strerror(errno));
	return rc == CLI_EXIT_OK ? CLI_EXIT_FAIL : rc;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = {0};
	const struct cli_cmd *cmd;
	int first = 0, rc;

	rc = global_parse(argc, argv, &ctx, &first);
	if (rc >= 0)
		return flush_stdout(rc);
	if (first >= argc) {
		global_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[first], "help") == 0)
		return flush_stdout(help_command(argc - first, argv + first));
	cmd = find_command(argv[first]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[first]);
	out_set_err_hook(json_error_client);
	rc = json_finish(cmd->run(&ctx, cmd, argc - first, argv + first));
	out_set_err_hook(NULL);
	/* status shows the numbers itself; version and help need no daemon advice. */
	if (rc == CLI_EXIT_OK && strcmp(cmd->name, "status") != 0 && strcmp(cmd->name, "version") != 0 &&
	    !wants_help(argc - first, argv + first))
		advisory_check(&ctx);
	return flush_stdout(rc);
}
