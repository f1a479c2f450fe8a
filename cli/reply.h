/* Reading checked replies: typed field access and the rendering of daemon errors. */
#ifndef WSCKPT_CLI_REPLY_H
#define WSCKPT_CLI_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The "result" object of an ok:true reply, NULL for a failure reply. */
const cJSON *reply_result(const cJSON *reply);
/* "code" and "message" of a failure reply ("" when the reply is a success). */
const char *reply_error_code(const cJSON *reply);
const char *reply_error_message(const cJSON *reply);

enum err_style {
	ERR_STYLE_ACTION,  /* init/checkpoint/rollback/delete: "✗ msg" + advice for known codes */
	ERR_STYLE_GENERIC, /* list/status/version: "Error [Code]: msg" */
};
/* Print the daemon's error (and its hint, if any) to stderr. Returns CLI_EXIT_FAIL. */
int reply_print_error(const cJSON *reply, enum err_style style);

/* Typed getters: the field's value, or NULL/dflt when absent or of another type. */
const char *json_str(const cJSON *obj, const char *key);
bool json_bool(const cJSON *obj, const char *key, bool dflt);
/* A non-negative integral number, clamped to UINT64_MAX; dflt otherwise. */
uint64_t json_u64(const cJSON *obj, const char *key, uint64_t dflt);

#endif
