/* ws-ckpt CLI: what every command shares (exit codes, context, command table entries). */
#ifndef WSCKPT_CLI_H
#define WSCKPT_CLI_H

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* daemon error, connection error, client-side error */
#define CLI_EXIT_USAGE 2 /* unknown command/flag, missing required flag, bad value */

#define CLI_DEFAULT_SOCKET "/run/ws-ckpt/ws-ckpt.sock"
#define CLI_SOCKET_ENV "WS_CKPT_SOCKET"

struct cli_ctx {
	const char *socket_path;
};

struct cli_cmd {
	const char *name;
	const char *about;   /* one line, shown in the command list and atop --help */
	const char *usage;   /* "ws-ckpt init --workspace <WORKSPACE>" */
	const char *options; /* the "Options:" block of --help, one option a line */
	/* argv[0] is the command name; returns a CLI_EXIT_* code. */
	int (*run)(const struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv);
};

extern const struct cli_cmd cmd_init;
extern const struct cli_cmd cmd_checkpoint;
extern const struct cli_cmd cmd_rollback;
extern const struct cli_cmd cmd_delete;
extern const struct cli_cmd cmd_list;
extern const struct cli_cmd cmd_status;
extern const struct cli_cmd cmd_version;
extern const struct cli_cmd cmd_diff;
extern const struct cli_cmd cmd_pin;
extern const struct cli_cmd cmd_unpin;
extern const struct cli_cmd cmd_cleanup;
extern const struct cli_cmd cmd_recover;
extern const struct cli_cmd cmd_unregister;
extern const struct cli_cmd cmd_config;
extern const struct cli_cmd cmd_reload;

#endif
