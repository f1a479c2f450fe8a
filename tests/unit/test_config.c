/* Unit tests for common/config.c: the strict TOML subset of config.toml. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"

#define NAME "test.toml"

static void parse_ok(const char *text, struct config *cfg)
{
	char err[512] = "";

	config_defaults(cfg);
	if (config_parse(NAME, text, cfg, err, sizeof(err)) != 0)
		fail_msg("config_parse failed: %s\n--- text ---\n%s", err, text);
	assert_string_equal(err, "");
}

/* Expect failure at line with reason containing `why`. */
static void parse_err(const char *text, int line, const char *why)
{
	struct config cfg;
	char err[512] = "";
	char prefix[64];

	config_defaults(&cfg);
	if (config_parse(NAME, text, &cfg, err, sizeof(err)) != -1)
		fail_msg("config_parse accepted:\n%s", text);
	snprintf(prefix, sizeof(prefix), NAME ":%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, prefix);
	if (strlen(err) <= strlen(prefix))
		fail_msg("error '%s' has no reason", err);
	if (why && !strstr(err, why))
		fail_msg("error '%s' does not mention '%s'", err, why);
}

static void check_defaults(const struct config *c)
{
	assert_string_equal(c->file, CONFIG_DEFAULT_PATH);
	assert_string_equal(c->socket_path, "/run/ws-ckpt/ws-ckpt.sock");
	assert_string_equal(c->socket_group, "ws-ckpt");
	assert_string_equal(c->state_dir, "/var/lib/ws-ckpt");
	assert_string_equal(c->frontd_user, "ws-ckpt");
	assert_string_equal(c->admin_group, "");
	assert_string_equal(c->frontd_path, "");
	assert_int_equal(c->backend, BACKEND_AUTO);
	assert_string_equal(c->img_path, "");
	assert_int_equal(c->img_size_gib, 30);
	assert_true(c->img_max_percent == 40.0);
	assert_string_equal(c->mount_path, "/mnt/btrfs-workspace");
	assert_string_equal(c->btrfs_mount, "");
	assert_false(c->auto_cleanup);
	assert_string_equal(c->auto_cleanup_keep, "20");
	assert_int_equal(c->auto_cleanup_interval_secs, 86400);
	assert_int_equal(c->health_check_interval_secs, 300);
	assert_int_equal(c->max_workspaces_per_user, 0);
	assert_int_equal(c->max_snapshots_per_workspace, 0);
	assert_int_equal(c->max_connections_per_uid, 32);
	assert_int_equal(c->max_connections, 256);
	assert_int_equal(c->set_mask, 0);
}

/* ---- accepted input ----------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config c;

	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	check_defaults(&c);
	assert_string_equal(backend_kind_name(BACKEND_AUTO), "auto");
	assert_string_equal(backend_kind_name(BACKEND_LOOP), "btrfs-loop");
	assert_string_equal(backend_kind_name(BACKEND_BASE), "btrfs-base");
}

static void test_empty_and_comments_only(void **state)
{
	struct config c;

	parse_ok("", &c);
	check_defaults(&c);
	parse_ok("\n\n   \n\t\n# only a comment\n   # indented comment\n", &c);
	check_defaults(&c);
	parse_ok("\r\n# crlf comment\r\n\r\n", &c);
	check_defaults(&c);
}

static void test_every_key(void **state)
{
	struct config c;
	const char *text =
		"# ws-ckpt configuration\n"
		"socket_path = \"/run/x/ws.sock\"\n"
		"socket_group = \"ckpt-users\"\n"
		"state_dir = \"/srv/state\"\n"
		"frontd_user = \"ws_front\"\n"
		"admin_group = \"wheel\"\n"
		"frontd_path = '/opt/ws/libexec/ws-ckpt-frontd'\n"
		"auto_cleanup = true\n"
		"auto_cleanup_keep = \"30d\"\n"
		"auto_cleanup_interval_secs = 3600\n"
		"health_check_interval_secs = 60\n"
		"max_workspaces_per_user = 5\n"
		"max_snapshots_per_workspace = 1_000\n"
		"max_connections_per_uid = 4294967295\n"
		"max_connections = 0\n"
		"\n"
		"[backend]\n"
		"type = \"btrfs-loop\"\n"
		"\n"
		"[backend.btrfs-loop]\n"
		"img_path = \"/srv/img/data.img\"\n"
		"img_size = 64\n"
		"img_max_percent = 12.5\n"
		"mount_path = \"/mnt/ws\"\n"
		"\n"
		"[backend.btrfs-base]\n"
		"btrfs_mount = \"/data\"\n";

	parse_ok(text, &c);
	assert_string_equal(c.socket_path, "/run/x/ws.sock");
	assert_string_equal(c.socket_group, "ckpt-users");
	assert_string_equal(c.state_dir, "/srv/state");
	assert_string_equal(c.frontd_user, "ws_front");
	assert_string_equal(c.admin_group, "wheel");
	assert_string_equal(c.frontd_path, "/opt/ws/libexec/ws-ckpt-frontd");
	assert_true(c.auto_cleanup);
	assert_string_equal(c.auto_cleanup_keep, "30d");
	assert_int_equal(c.auto_cleanup_interval_secs, 3600);
	assert_int_equal(c.health_check_interval_secs, 60);
	assert_int_equal(c.max_workspaces_per_user, 5);
	assert_int_equal(c.max_snapshots_per_workspace, 1000);
	assert_int_equal(c.max_connections_per_uid, UINT32_MAX);
	assert_int_equal(c.max_connections, 0);
	assert_int_equal(c.backend, BACKEND_LOOP);
	assert_string_equal(c.img_path, "/srv/img/data.img");
	assert_int_equal(c.img_size_gib, 64);
	assert_true(c.img_max_percent == 12.5);
	assert_string_equal(c.mount_path, "/mnt/ws");
	assert_string_equal(c.btrfs_mount, "/data");
	assert_int_equal(__builtin_popcountll(c.set_mask), 20);
}

static void test_u64_range(void **state)
{
	struct config c;

	parse_ok("[backend.btrfs-loop]\nimg_size = 9223372036854775807\n", &c);
	assert_int_equal(c.img_size_gib, INT64_MAX);
	parse_err("[backend.btrfs-loop]\nimg_size = 18446744073709551615\n", 2, NULL);
	parse_err("[backend.btrfs-loop]\nimg_size = 1.0\n", 2, "img_size");
	parse_err("health_check_interval_secs = true\n", 1, "health_check_interval_secs");
}

static void test_value_forms(void **state)
{
	struct config c;

	/* whitespace, trailing comments, escapes, literal strings */
	parse_ok("  socket_group   =   \"g1\"   # trailing comment\n", &c);
	assert_string_equal(c.socket_group, "g1");
	parse_ok("\tsocket_group\t=\t'g2'\t#c\n", &c);
	assert_string_equal(c.socket_group, "g2");
	parse_ok("socket_group=\"g3\"\n", &c);
	assert_string_equal(c.socket_group, "g3");
	parse_ok("socket_path = \"/run/a#b/s.sock\" # '#' inside quotes is data\n", &c);
	assert_string_equal(c.socket_path, "/run/a#b/s.sock");
	parse_ok("socket_path = \"/run/q\\\"uote\\\\s\"\n", &c);
	assert_string_equal(c.socket_path, "/run/q\"uote\\s");
	parse_ok("socket_path = '/run/lit\\eral'\n", &c);
	assert_string_equal(c.socket_path, "/run/lit\\eral");
	parse_ok("auto_cleanup = false\n", &c);
	assert_false(c.auto_cleanup);
	parse_ok("auto_cleanup = true # on\n", &c);
	assert_true(c.auto_cleanup);
	parse_ok("max_connections = +7\n", &c);
	assert_int_equal(c.max_connections, 7);
	parse_ok("admin_group = \"\"\n", &c); /* explicitly none */
	assert_string_equal(c.admin_group, "");
	parse_ok("[backend.btrfs-loop]\nimg_max_percent = 100\n", &c);
	assert_true(c.img_max_percent == 100.0);
	parse_ok("[backend.btrfs-loop]\nimg_max_percent = 0\n", &c);
	assert_true(c.img_max_percent == 0.0);
	parse_ok("[backend.btrfs-loop]\nimg_max_percent = 100.0\n", &c);
	assert_true(c.img_max_percent == 100.0);
	parse_ok("[backend.btrfs-loop]\nimg_max_percent = 5e1\n", &c);
	assert_true(c.img_max_percent == 50.0);
	parse_ok("[ backend ] # spaced header\ntype = \"btrfs-base\"\n", &c);
	assert_int_equal(c.backend, BACKEND_BASE);
	parse_ok("[backend]\ntype = \"auto\"\n", &c);
	assert_int_equal(c.backend, BACKEND_AUTO);
	/* sections in any order (reopening one is an error: test_errors_with_line_numbers) */
	parse_ok("[backend.btrfs-loop]\nmount_path = \"/m\"\n[backend]\ntype = \"btrfs-loop\"\n", &c);
	assert_string_equal(c.mount_path, "/m");
	assert_int_equal(c.backend, BACKEND_LOOP);
	/* last line without a newline */
	parse_ok("max_connections = 9", &c);
	assert_int_equal(c.max_connections, 9);
}

static void test_crlf(void **state)
{
	struct config c;

	parse_ok("# comment\r\n"
		 "\r\n"
		 "socket_group = \"crlf\"\r\n"
		 "[backend]\r\n"
		 "type = \"btrfs-base\" # c\r\n"
		 "[backend.btrfs-base]\r\n"
		 "btrfs_mount = \"/b\"\r\n",
		 &c);
	assert_string_equal(c.socket_group, "crlf");
	assert_int_equal(c.backend, BACKEND_BASE);
	assert_string_equal(c.btrfs_mount, "/b"); /* no stray '\r' kept */
	/* line numbers still count CRLF lines */
	parse_err("# a\r\n\r\nbogus = 1\r\n", 3, "bogus");
}

static void test_auto_cleanup_keep(void **state)
{
	static const char *const good_str[] = { "30d", "12h", "1s", "5m", "2w", "7D", "0d" };
	static const char *const bad[] = {
		"\"10\"", "\"abc\"", "\"5x\"", "\"d\"", "\"\"", "\"-5d\"", "\"+5d\"", "\" 5d\"",
		"\"5d \"", "\"5dd\"", "\"1.5d\"", "\"99999999999999999999d\"", "-1", "4294967296",
		"1.5", "true",
	};
	struct config c;
	char text[128];

	parse_ok("auto_cleanup_keep = 20\n", &c);
	assert_string_equal(c.auto_cleanup_keep, "20");
	parse_ok("auto_cleanup_keep = 0\n", &c);
	assert_string_equal(c.auto_cleanup_keep, "0");
	parse_ok("auto_cleanup_keep = 4294967295\n", &c);
	assert_string_equal(c.auto_cleanup_keep, "4294967295");
	for (size_t i = 0; i < sizeof(good_str) / sizeof(good_str[0]); i++) {
		snprintf(text, sizeof(text), "auto_cleanup_keep = \"%s\"\n", good_str[i]);
		parse_ok(text, &c);
		assert_string_equal(c.auto_cleanup_keep, good_str[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "# keep\nauto_cleanup_keep = %s\n", bad[i]);
		parse_err(text, 2, "auto_cleanup_keep");
	}
}

static void test_paths_and_names(void **state)
{
	struct config c;
	char text[2100];
	char longp[1100];

	parse_err("state_dir = \"var/lib/ws\"\n", 1, "absolute");
	parse_err("socket_path = \"./ws.sock\"\n", 1, "absolute");
	parse_err("frontd_path = \"\"\n", 1, "absolute");
	parse_err("[backend.btrfs-loop]\nimg_path = \"img\"\n", 2, "absolute");
	parse_err("[backend.btrfs-loop]\nmount_path = \"~/mnt\"\n", 2, "absolute");
	parse_err("[backend.btrfs-base]\nbtrfs_mount = \"data\"\n", 2, "absolute");
	parse_err("state_dir = 5\n", 1, "string");
	/* paths leave room for derived names */
	longp[0] = '/';
	memset(longp + 1, 'p', 958);
	longp[959] = '\0';
	snprintf(text, sizeof(text), "state_dir = \"%s\"\n", longp);
	parse_ok(text, &c);
	assert_int_equal(strlen(c.state_dir), 959);
	config_finish(&c);
	assert_int_equal(strlen(c.img_path), 959 + strlen("/btrfs-data.img"));
	longp[959] = 'p';
	longp[960] = '\0';
	snprintf(text, sizeof(text), "state_dir = \"%s\"\n", longp);
	parse_err(text, 1, "too long");
	/* user and group names */
	parse_err("frontd_user = \"a b\"\n", 1, "frontd_user");
	parse_err("socket_group = \"../etc\"\n", 1, "socket_group");
	parse_err("admin_group = \"x:y\"\n", 1, "admin_group");
	parse_err("admin_group = 0\n", 1, "admin_group");
	parse_err("frontd_user = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n", 1,
		  "too long");
	parse_ok("frontd_user = \"svc.ws-ckpt_1\"\n", &c);
	assert_string_equal(c.frontd_user, "svc.ws-ckpt_1");
}

/* ---- rejected input: every error carries name:line: reason ------------- */

static void test_errors_with_line_numbers(void **state)
{
	/* unknown key */
	parse_err("# c\n\nsocket_path = \"/s\"\nbogus_key = 1\n", 4, "unknown key 'bogus_key'");
	parse_err("[backend]\n\n\nimg_path = \"/x\"\n", 4, "unknown key 'img_path' in [backend]");
	parse_err("type = \"auto\"\n", 1, "unknown key 'type'");
	/* unknown section */
	parse_err("socket_group = \"g\"\n\n[backends]\n", 3, "unknown section [backends]");
	parse_err("[backend.btrfs-zfs]\n", 1, "unknown section");
	parse_err("[]\n", 1, "section");
	parse_err("[backend\n", 1, "section");
	parse_err("[backend] extra\n", 1, "unexpected text");
	/* bad types */
	parse_err("\nmax_connections = \"10\"\n", 2, "max_connections");
	parse_err("max_connections = 1.5\n", 1, "max_connections");
	parse_err("max_connections = true\n", 1, "max_connections");
	parse_err("auto_cleanup = 1\n", 1, "auto_cleanup");
	parse_err("auto_cleanup = \"true\"\n", 1, "auto_cleanup");
	parse_err("[backend]\ntype = 1\n", 2, "type");
	/* negative and out of range integers */
	parse_err("# x\nmax_workspaces_per_user = -1\n", 2, "max_workspaces_per_user");
	parse_err("auto_cleanup_interval_secs = -5\n", 1, "auto_cleanup_interval_secs");
	parse_err("max_connections = 4294967296\n", 1, "max_connections");
	/* percent */
	parse_err("[backend.btrfs-loop]\n# c\nimg_max_percent = 100.5\n", 3, "img_max_percent");
	parse_err("[backend.btrfs-loop]\nimg_max_percent = -1\n", 2, "img_max_percent");
	parse_err("[backend.btrfs-loop]\nimg_max_percent = -0.1\n", 2, "img_max_percent");
	parse_err("[backend.btrfs-loop]\nimg_max_percent = \"40\"\n", 2, "img_max_percent");
	parse_err("[backend.btrfs-loop]\nimg_max_percent = 1e999\n", 2, "invalid number");
	parse_err("[backend.btrfs-loop]\nimg_max_percent = nan\n", 2, NULL);
	parse_err("[backend.btrfs-loop]\nimg_max_percent = inf\n", 2, NULL);
	/* backend type */
	parse_err("[backend]\n\ntype = \"btrfs\"\n", 3, "btrfs-loop");
	parse_err("[backend]\ntype = \"BtrfsLoop\"\n", 2, "type");
	parse_err("[backend]\ntype = \"\"\n", 2, "type");
	/* unterminated strings */
	parse_err("\n\nsocket_path = \"/run/x\n", 3, "unterminated");
	parse_err("socket_path = '/run/x\n", 1, "unterminated");
	parse_err("socket_path = \"/run/x\\\"\n", 1, "unterminated");
	/* bad escapes and control characters */
	parse_err("socket_path = \"/run/\\u0041\"\n", 1, "escape");
	parse_err("socket_path = \"/run/\\\n", 1, "escape");
	parse_err("socket_path = \"/run/\x01x\"\n", 1, "control");
	/* duplicate keys; a section header may appear once (TOML), even with no key repeated */
	parse_err("max_connections = 1\n# again\nmax_connections = 2\n", 3, "duplicate key 'max_connections'");
	parse_err("[backend]\ntype = \"auto\"\n[backend.btrfs-loop]\n[backend]\ntype = \"auto\"\n", 4,
		  "section [backend] appears twice");
	parse_err("[backend.btrfs-loop]\nimg_size = 5\n[backend.btrfs-loop]\nimg_max_percent = 5\n", 3,
		  "appears twice");
	/* values without quotes */
	parse_err("socket_group = wsckpt\n", 1, "quotes");
	parse_err("[backend]\ntype = btrfs-loop\n", 2, NULL);
	parse_err("auto_cleanup = yes\n", 1, NULL);
	parse_err("auto_cleanup = True\n", 1, NULL);
	parse_err("max_connections = 0x10\n", 1, NULL);
	/* missing pieces */
	parse_err("max_connections =\n", 1, "missing value");
	parse_err("max_connections = # nothing\n", 1, NULL);
	parse_err("max_connections 5\n", 1, "expected '='");
	parse_err("= 5\n", 1, "key");
	parse_err("\"quoted\" = 5\n", 1, NULL);
	parse_err("backend.type = \"auto\"\n", 1, NULL);
	/* trailing garbage */
	parse_err("max_connections = 5 6\n", 1, "unexpected text");
	parse_err("max_connections = 5x\n", 1, NULL);
	parse_err("socket_group = \"a\" \"b\"\n", 1, "unexpected text");
	parse_err("socket_group = \"a\"b\n", 1, "unexpected text");
	parse_err("auto_cleanup = true false\n", 1, "unexpected text");
	parse_err("socket_group = \"\"\"multi\"\"\"\n", 1, NULL);
	/* arrays and tables */
	parse_err("# arrays\nmax_connections = [1, 2]\n", 2, "arrays");
	parse_err("socket_group = { a = 1 }\n", 1, "inline tables");
	parse_err("[[backend]]\n", 1, "arrays of tables");
	/* an error after many valid lines still reports the right line */
	parse_err("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n\n\nmax_connections = -3\n", 12, NULL);
}

static void test_line_too_long(void **state)
{
	char *text = malloc(4000);

	assert_non_null(text);
	memset(text, '#', 3000);
	memcpy(text + 3000, "\n", 2);
	parse_err(text, 1, "too long");
	free(text);
}

static void test_error_buffer_small(void **state)
{
	struct config c;
	char err[12];

	config_defaults(&c);
	memset(err, 'X', sizeof(err));
	assert_int_equal(config_parse(NAME, "bogus = 1\n", &c, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1); /* truncated, terminated */
	assert_memory_equal(err, "test.toml:1", 11);
}

/* ---- load and finish ---------------------------------------------------- */

static void write_tmp(char *path, size_t psz, const char *content, size_t len)
{
	int fd;

	snprintf(path, psz, "/tmp/wsckpt-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
}

static void test_load_missing_file(void **state)
{
	struct config c;
	char err[256] = "";

	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(config_load("/nonexistent/ws-ckpt/config.toml", &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.file, "/nonexistent/ws-ckpt/config.toml");
	assert_string_equal(c.state_dir, "/var/lib/ws-ckpt");
	assert_string_equal(c.img_path, "/var/lib/ws-ckpt/btrfs-data.img");
	assert_string_equal(c.socket_path, "/run/ws-ckpt/ws-ckpt.sock");
	assert_int_equal(c.backend, BACKEND_AUTO);
	assert_int_equal(c.max_connections, 256);
}

static void test_load_file(void **state)
{
	struct config c;
	char path[64], err[256] = "";
	const char *text = "state_dir = \"/srv/ws\"\n[backend]\ntype = \"btrfs-loop\"\n";

	write_tmp(path, sizeof(path), text, strlen(text));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.file, path);
	assert_string_equal(c.state_dir, "/srv/ws");
	assert_string_equal(c.img_path, "/srv/ws/btrfs-data.img"); /* derived */
	assert_int_equal(c.backend, BACKEND_LOOP);
	unlink(path);
}

static void test_load_error_names_file(void **state)
{
	struct config c;
	char path[64], err[256] = "", want[128];
	const char *text = "# ok\n[backend]\ntype = \"zfs\"\n";

	write_tmp(path, sizeof(path), text, strlen(text));
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: ", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);

	/* unreadable (a directory) */
	err[0] = '\0';
	assert_int_equal(config_load("/tmp", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/tmp"));
}

static void test_load_nul_byte(void **state)
{
	struct config c;
	char path[64], err[256] = "", want[128];
	/* Everything after the NUL would be silently ignored, including a bad key. */
	static const char text[] = "max_connections = 5\n\0admin_group = \"wheel\"\nbogus = 1\n";

	write_tmp(path, sizeof(path), text, sizeof(text) - 1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "NUL"));
	unlink(path);
}

static void test_finish(void **state)
{
	struct config c;

	parse_ok("[backend.btrfs-loop]\nimg_path = \"/images/ws.img\"\n", &c);
	config_finish(&c);
	assert_string_equal(c.img_path, "/images/ws.img"); /* explicit wins */

	parse_ok("state_dir = \"/st\"\n", &c);
	config_finish(&c);
	assert_string_equal(c.img_path, "/st/btrfs-data.img");
	config_finish(&c); /* idempotent */
	assert_string_equal(c.img_path, "/st/btrfs-data.img");

	/* order in the file does not matter: img_path before state_dir */
	parse_ok("state_dir = \"/st2\"\n[backend.btrfs-loop]\nimg_path = \"/i.img\"\n", &c);
	config_finish(&c);
	assert_string_equal(c.img_path, "/i.img");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_and_comments_only),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_u64_range),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_auto_cleanup_keep),
		cmocka_unit_test(test_paths_and_names),
		cmocka_unit_test(test_errors_with_line_numbers),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_error_buffer_small),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_error_names_file),
		cmocka_unit_test(test_load_nul_byte),
		cmocka_unit_test(test_finish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
