/* JSON output for --format json: serde_json's pretty style (2-space indent, "key": value). */
#ifndef WSCKPT_CLI_JSONOUT_H
#define WSCKPT_CLI_JSONOUT_H

#include <stdio.h>

#include <cjson/cJSON.h>

/* Write item and a final newline to f. */
void json_print_pretty(FILE *f, const cJSON *item);

#endif
