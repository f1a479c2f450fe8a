/* The one-document rule of JSON mode, and the error document. */
#include "cli/jsonmode.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/jsonbuild.h"
#include "cli/jsonout.h"
#include "cli/output.h"
#include "cli/reply.h"

#define ERR_CODE_MAX 64
#define ERR_MSG_MAX 1024

static struct {
	bool on;      /* JSON mode chosen */
	bool printed; /* a document went to stdout */
	bool noted;   /* code/message hold an error */
	bool daemon;  /* ... that the daemon sent */
	char code[ERR_CODE_MAX];
	char message[ERR_MSG_MAX];
	char hint[ERR_MSG_MAX];
} jm;

void json_mode_set(bool on)
{
	jm.on = on;
}

bool json_mode(void)
{
	return jm.on;
}

void json_error_daemon(const cJSON *reply)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	const char *hint = json_str(err, "hint");

	if (jm.daemon)
		return;
	snprintf(jm.code, sizeof(jm.code), "%s", reply_error_code(reply));
	snprintf(jm.message, sizeof(jm.message), "%s", reply_error_message(reply));
	snprintf(jm.hint, sizeof(jm.hint), "%s", hint ? hint : "");
	jm.noted = jm.daemon = true;
}

/* "Error: x", "Error [Code]: x" and "✗ x" are the human forms of x. */
static const char *strip_prefix(const char *msg)
{
	static const char *const prefixes[] = {"Error: ", "✗ "};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (strncmp(msg, prefixes[i], n) == 0)
			return msg + n;
	}
	return msg;
}

void json_error_client(const char *msg)
{
	if (jm.noted || !msg || msg[0] == '\0')
		return;
	snprintf(jm.code, sizeof(jm.code), "%s", JSON_CLIENT_ERROR);
	snprintf(jm.message, sizeof(jm.message), "%s", strip_prefix(msg));
	jm.hint[0] = '\0';
	jm.noted = true;
}

void json_print_doc(const cJSON *doc)
{
	json_print_pretty(stdout, doc);
	jm.printed = true;
}

int json_emit(cJSON *doc)
{
	if (!doc) {
		out_err("Error: out of memory");
		return CLI_EXIT_FAIL;
	}
	json_print_doc(doc);
	cJSON_Delete(doc);
	return CLI_EXIT_OK;
}

static cJSON *error_doc(void)
{
	cJSON *err = cJSON_CreateObject(), *doc = cJSON_CreateObject();

	err = jo_str(err, "code", jm.noted ? jm.code : JSON_CLIENT_ERROR);
	err = jo_str(err, "message", jm.noted ? jm.message : "the command failed");
	if (jm.hint[0] != '\0')
		err = jo_str(err, "hint", jm.hint);
	if (!err) {
		cJSON_Delete(doc);
		return NULL;
	}
	if (!doc || !cJSON_AddItemToObject(doc, "error", err)) {
		cJSON_Delete(err);
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

int json_finish(int rc)
{
	cJSON *doc;

	if (!jm.on || jm.printed || rc == CLI_EXIT_OK || (rc == CLI_EXIT_USAGE && !jm.daemon))
		return rc;
	doc = error_doc();
	if (doc)
		json_print_doc(doc);
	else
		fputs("{\"error\":{\"code\":\"" JSON_CLIENT_ERROR "\",\"message\":\"out of memory\"}}\n",
		      stdout);
	cJSON_Delete(doc);
	return rc;
}
