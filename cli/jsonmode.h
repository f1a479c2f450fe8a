/*
 * --format json / --json: stdout carries exactly one JSON document, the command's result or
 * {"error":{"code","message","hint"?}} (docs/PROTOCOL.md, "CLI JSON output"). Human
 * messages, warnings and hints still go to stderr.
 */
#ifndef WSCKPT_CLI_JSONMODE_H
#define WSCKPT_CLI_JSONMODE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* The code of errors the CLI finds itself (connection, malformed reply, local failures). */
#define JSON_CLIENT_ERROR "ClientError"

void json_mode_set(bool on);
bool json_mode(void);

/* Remember the daemon's failure reply for the error document (the first one wins). */
void json_error_daemon(const cJSON *reply);
/* Remember a message the CLI printed (out_err hook); used only when the daemon sent none. */
void json_error_client(const char *msg);

/* Print doc to stdout as the one document. */
void json_print_doc(const cJSON *doc);
/* Print doc and free it: CLI_EXIT_OK, or CLI_EXIT_FAIL (printed) when doc is NULL. */
int json_emit(cJSON *doc);

/*
 * After the command: in JSON mode, when rc is a failure and no document was printed, print
 * the error document. Usage errors (exit 2) get one only if the daemon reported them.
 * Returns rc.
 */
int json_finish(int rc);

#endif
