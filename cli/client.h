/* One request, one reply: the CLI's side of the NDJSON client protocol (docs/PROTOCOL.md). */
#ifndef WSCKPT_CLI_CLIENT_H
#define WSCKPT_CLI_CLIENT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "cli/opts.h"
#include "cli/reply.h"

#ifndef CLI_CONNECT_TIMEOUT_SECS
#define CLI_CONNECT_TIMEOUT_SECS 30
#endif
#ifndef CLI_REPLY_TIMEOUT_SECS
#define CLI_REPLY_TIMEOUT_SECS 600 /* per read; progress lines restart it */
#endif
#define CLI_REQUEST_ID 1           /* one request per connection */

/* {"v":1,"id":1,"op":op}, or NULL (printed) when out of memory. */
cJSON *req_new(const char *op);

/* Add a field to a request; false (printed) when out of memory. */
bool req_add_str(cJSON *req, const char *key, const char *val);
bool req_add_bool(cJSON *req, const char *key, bool val);

/*
 * Connect to the daemon socket at path, send req as one line and wait for the reply
 * that carries "ok" (progress lines are skipped). The reply is checked: ok:true has a
 * "result" object, ok:false an "error" object with string "code" and "message".
 * Returns 0 with *reply (free with cJSON_Delete), or -1 after printing what went wrong
 * and what to do (daemon not running, permission, timeout, malformed reply...).
 */
int client_call(const char *path, const cJSON *req, cJSON **reply);
/*
 * Send req (always freed, may be NULL after a failed build) and hand the result to render,
 * or print the daemon's error in the given style. Returns an exit code.
 */
int client_render(const char *path, cJSON *req,
		  int (*render)(const cJSON *res, enum out_format fmt), enum out_format fmt,
		  enum err_style style);
/* Same, printing nothing on failure. */
int client_call_quiet(const char *path, const cJSON *req, cJSON **reply);
/* The "advisory" object of the last successful reply that had one, or NULL. */
const cJSON *client_last_advisory(void);

#endif
