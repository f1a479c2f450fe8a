/* Connecting to ws-ckptd, sending one request line and reading its reply. */
#include "cli/client.h"
#include "cli/reply.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "proto/linebuf.h"

#define SOCKET_GROUP_DEFAULT "ws-ckpt"

cJSON *req_new(const char *op)
{
	cJSON *req = cJSON_CreateObject();

	/* "advisory": the answer carries what the post-command warning needs, which saves
	 * a status request per command; a daemon that predates it ignores the field. */
	if (!req || !cJSON_AddNumberToObject(req, "v", 1) ||
	    !cJSON_AddNumberToObject(req, "id", CLI_REQUEST_ID) ||
	    !cJSON_AddStringToObject(req, "op", op) || !cJSON_AddTrueToObject(req, "advisory")) {
		cJSON_Delete(req);
		out_err("Error: out of memory");
		return NULL;
	}
	return req;
}

bool req_add_str(cJSON *req, const char *key, const char *val)
{
	if (cJSON_AddStringToObject(req, key, val))
		return true;
	out_err("Error: out of memory");
	return false;
}

bool req_add_bool(cJSON *req, const char *key, bool val)
{
	if (cJSON_AddBoolToObject(req, key, val))
		return true;
	out_err("Error: out of memory");
	return false;
}

/* ---- connecting ----------------------------------------------------------- */

static int set_timeout(int fd, int opt, int secs)
{
	struct timeval tv = {.tv_sec = secs, .tv_usec = 0};

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* Name of the group owning the socket (who may connect), for the EACCES advice. */
static void socket_group(const char *path, char *out, size_t outsz)
{
	struct stat st;
	const struct group *gr;

	snprintf(out, outsz, "%s", SOCKET_GROUP_DEFAULT);
	if (stat(path, &st) != 0 || st.st_gid == 0)
		return;
	gr = getgrgid(st.st_gid);
	if (gr && gr->gr_name)
		snprintf(out, outsz, "%s", gr->gr_name);
}

static bool systemd_is_init(void)
{
	struct stat st;

	return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) != 0 || S_ISSOCK(st.st_mode);
}

static void report_connect_error(const char *path, int err)
{
	char group[64];

	switch (err) {
	case ENOENT:
		out_err("✗ Daemon is not running.");
		if (strcmp(path, CLI_DEFAULT_SOCKET) != 0)
			out_hint("  (no socket at %s)", path);
		if (systemd_is_init())
			out_hint("  Start it with 'systemctl start ws-ckpt'.");
		else
			out_hint("  Start it with 'sudo ws-ckptd' (or 'sudo ws-ckptd -f -c "
				 "/etc/ws-ckpt/config.toml' in the foreground).");
		break;
	case ECONNREFUSED:
		if (!is_socket(path)) {
			out_err("Error: Failed to connect to ws-ckpt daemon (%s): not a socket", path);
			out_hint("  Check -S/--socket or $" CLI_SOCKET_ENV ".");
			break;
		}
		out_warn("⚠ Daemon is starting up. Please retry in a few seconds.");
		out_hint("  If this persists, the daemon has stopped: check 'systemctl status ws-ckpt' "
			 "or its log.");
		break;
	case EACCES:
	case EPERM:
		socket_group(path, group, sizeof(group));
		out_err("✗ Permission denied connecting to the ws-ckpt daemon (%s).", path);
		out_hint("  Your user must be a member of the daemon's socket group '%s'.", group);
		out_hint("  Add it with 'sudo usermod -aG %s $USER', then log in again.", group);
		break;
	case EAGAIN:
		out_err("Error: Timed out connecting to ws-ckpt daemon (%s) after %d seconds: it is "
			"not accepting connections.", path, CLI_CONNECT_TIMEOUT_SECS);
		out_hint("  Check the daemon with 'systemctl status ws-ckpt' or its log.");
		break;
	default:
		out_err("Error: Failed to connect to ws-ckpt daemon (%s): %s", path, strerror(err));
		break;
	}
}

/* Returns a connected fd, or -1 after printing why not. */
static int client_connect(const char *path)
{
	struct sockaddr_un sa;
	size_t len = strlen(path);
	int fd, err;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(sa.sun_path)) {
		out_err("Error: Invalid ws-ckpt daemon socket path '%s': it must be 1-%zu bytes long.",
			path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		out_err("Error: Cannot create a socket: %s", strerror(errno));
		return -1;
	}
	/* On AF_UNIX the send timeout also bounds connect() on a full backlog. */
	if (set_timeout(fd, SO_SNDTIMEO, CLI_CONNECT_TIMEOUT_SECS) != 0)
		goto fail_sockopt;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = errno;
		close(fd);
		report_connect_error(path, err);
		return -1;
	}
	if (set_timeout(fd, SO_SNDTIMEO, CLI_REPLY_TIMEOUT_SECS) != 0 ||
	    set_timeout(fd, SO_RCVTIMEO, CLI_REPLY_TIMEOUT_SECS) != 0)
		goto fail_sockopt;
	return fd;

fail_sockopt:
	out_err("Error: Cannot set socket timeouts: %s", strerror(errno));
	close(fd);
	return -1;
}

/* ---- sending -------------------------------------------------------------- */

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_request(int fd, const char *path, const cJSON *req)
{
	char *text = cJSON_PrintUnformatted(req), *line;
	size_t len;
	int rc;

	if (!text) {
		out_err("Error: out of memory");
		return -1;
	}
	len = strlen(text);
	if (len + 1 > NDJSON_LINE_MAX) {
		out_err("Error: Request too large (%zu bytes; the protocol allows %u per line).",
			len + 1, NDJSON_LINE_MAX);
		out_hint("  Shorten --message or --metadata.");
		free(text);
		return -1;
	}
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		out_err("Error: out of memory");
		return -1;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	rc = send_all(fd, line, len + 1);
	if (rc != 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			out_err("Error: Timed out sending the request to ws-ckpt daemon (%s).", path);
		else
			out_err("Error: Failed to send the request to ws-ckpt daemon (%s): %s", path,
				strerror(errno));
	}
	free(line);
	return rc;
}

/* ---- receiving ------------------------------------------------------------ */

static int malformed(const char *what)
{
	out_err("Error: Malformed reply from ws-ckpt daemon: %s", what);
	return -1;
}

/* Shape check of a final reply (one that has "ok"). */
static int reply_check(const cJSON *reply)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "id");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
	const cJSON *err;

	if (!cJSON_IsBool(ok))
		return malformed("\"ok\" is not a boolean");
	if (cJSON_IsTrue(ok)) {
		if (!cJSON_IsNumber(id) || id->valuedouble != CLI_REQUEST_ID)
			return malformed("the reply's \"id\" does not match the request");
		if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(reply, "result")))
			return malformed("\"result\" is missing or not an object");
		return 0;
	}
	/* A request the daemon could not parse at all is answered with id null. */
	if (!cJSON_IsNull(id) && !(cJSON_IsNumber(id) && id->valuedouble == CLI_REQUEST_ID))
		return malformed("the reply's \"id\" does not match the request");
	err = cJSON_GetObjectItemCaseSensitive(reply, "error");
	if (!cJSON_IsObject(err) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "code")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "message")))
		return malformed("\"error\" lacks a string \"code\" or \"message\"");
	return 0;
}

/*
 * Parse one line. Returns 1 with *reply for a final reply, 0 for a line to skip
 * (progress, blank), -1 after printing an error.
 */
static int parse_line(const char *line, size_t len, cJSON **reply)
{
	const char *end = NULL;
	cJSON *obj;

	if (len == 0)
		return 0;
	if (strlen(line) != len)
		return malformed("the reply contains a NUL byte");
	obj = cJSON_ParseWithOpts(line, &end, 1);
	if (!obj)
		return malformed("not valid JSON");
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return malformed("not a JSON object");
	}
	if (cJSON_HasObjectItem(obj, "progress") && !cJSON_HasObjectItem(obj, "ok")) {
		cJSON_Delete(obj);
		return 0;
	}
	if (reply_check(obj) != 0) {
		cJSON_Delete(obj);
		return -1;
	}
	*reply = obj;
	return 1;
}

static int report_read_error(const char *path, ssize_t n)
{
	if (n == 0)
		out_err("Error: ws-ckpt daemon (%s) closed the connection before a complete reply.", path);
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		out_err("Error: No reply from ws-ckpt daemon (%s) within %d seconds; giving up. The "
			"operation may still complete: check 'ws-ckpt status' and the daemon log.",
			path, CLI_REPLY_TIMEOUT_SECS);
	else if (errno == EMSGSIZE)
		out_err("Error: Reply from ws-ckpt daemon exceeds %u bytes.", NDJSON_LINE_MAX);
	else
		out_err("Error: Failed to read the reply from ws-ckpt daemon (%s): %s", path,
			strerror(errno));
	return -1;
}

static int read_reply(int fd, const char *path, cJSON **reply)
{
	struct linebuf lb;
	int rc = -1;

	if (linebuf_init(&lb, NDJSON_LINE_MAX) != 0) {
		out_err("Error: out of memory");
		return -1;
	}
	for (;;) {
		char *line = NULL;
		size_t len = 0;
		int got = linebuf_next(&lb, &line, &len);
		ssize_t n;

		if (got == 1) {
			int r = parse_line(line, len, reply);

			free(line);
			if (r == 0)
				continue;
			rc = r == 1 ? 0 : -1;
			break;
		}
		if (got < 0) {
			if (lb.len >= lb.max)
				out_err("Error: Reply from ws-ckpt daemon exceeds %u bytes.", NDJSON_LINE_MAX);
			else
				out_err("Error: out of memory");
			break;
		}
		n = linebuf_fill(&lb, fd);
		if (n <= 0) {
			report_read_error(path, n);
			break;
		}
	}
	linebuf_free(&lb);
	return rc;
}

/*
 * The connection of the last successful call stays open for the next one (a command's
 * second request, such as the status an older daemon's advisory needs): a new connection
 * costs an accept and a hello round trip to privd. Requests go strictly one after the
 * other, so the session sees them in order.
 */
static struct {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} kept = { .fd = -1 };

static void kept_close(void)
{
	if (kept.fd >= 0)
		close(kept.fd);
	kept.fd = -1;
}

/* Send on the kept connection. 0 sent; -1 not sent (the connection is gone: closed). */
static int send_on_kept(const char *path, const cJSON *req)
{
	bool was;
	int rc;

	if (kept.fd < 0 || strcmp(kept.path, path) != 0) {
		kept_close();
		return -1;
	}
	/* A daemon that closed an idle connection makes this fail before anything is sent. */
	was = out_mute_stderr(true);
	rc = send_request(kept.fd, path, req);
	out_mute_stderr(was);
	if (rc != 0)
		kept_close();
	return rc;
}

static cJSON *last_advisory;

static void keep_advisory(const cJSON *reply)
{
	const cJSON *adv = cJSON_GetObjectItemCaseSensitive(reply, "advisory");
	cJSON *copy;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) || !cJSON_IsObject(adv))
		return;
	copy = cJSON_Duplicate(adv, true);
	if (!copy)
		return; /* the advisory falls back to asking for status */
	cJSON_Delete(last_advisory);
	last_advisory = copy;
}

const cJSON *client_last_advisory(void)
{
	return last_advisory;
}

int client_call(const char *path, const cJSON *req, cJSON **reply)
{
	int fd, rc;

	*reply = NULL;
	if (send_on_kept(path, req) == 0) {
		fd = kept.fd;
		kept.fd = -1;
	} else {
		fd = client_connect(path);
		if (fd < 0)
			return -1;
		if (send_request(fd, path, req) != 0) {
			close(fd);
			return -1;
		}
	}
	rc = read_reply(fd, path, reply);
	if (rc == 0)
		keep_advisory(*reply);
	if (rc == 0 && strlen(path) < sizeof(kept.path)) {
		kept.fd = fd;
		snprintf(kept.path, sizeof(kept.path), "%s", path);
	} else {
		close(fd);
	}
	return rc;
}

int client_call_quiet(const char *path, const cJSON *req, cJSON **reply)
{
	bool was = out_mute_stderr(true);
	int rc = client_call(path, req, reply);

	out_mute_stderr(was);
	return rc;
}

int client_render(const char *path, cJSON *req,
		  int (*render)(const cJSON *res, enum out_format fmt), enum out_format fmt,
		  enum err_style style)
{
	cJSON *reply = NULL;
	const cJSON *res;
	int rc = CLI_EXIT_FAIL;

	if (req && client_call(path, req, &reply) == 0) {
		res = reply_result(reply);
		rc = res ? render(res, fmt) : reply_print_error(reply, style);
	}
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}
