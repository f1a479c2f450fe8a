/* Building the CLI's JSON documents: adds that chain, with one out-of-memory check at the end. */
#ifndef WSCKPT_CLI_JSONBUILD_H
#define WSCKPT_CLI_JSONBUILD_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/*
 * Each adds key to obj and returns obj; when obj is NULL or memory runs out it returns
 * NULL (obj freed), so "o = jo_str(o, ...); o = jo_bool(o, ...);" needs one NULL check.
 */
cJSON *jo_str(cJSON *obj, const char *key, const char *val); /* NULL val: null */
cJSON *jo_bool(cJSON *obj, const char *key, bool val);
cJSON *jo_num(cJSON *obj, const char *key, double val);
cJSON *jo_dup(cJSON *obj, const char *key, const cJSON *item); /* deep copy; NULL: null */

#endif
