/*
 * libFuzzer harness: the TOML-subset config parser (common/config.c config_parse).
 * The input is the file's text. config_parse takes a C string; config_load refuses a
 * file with a NUL, so here the text simply ends at the first NUL.
 * On success the parsed config must satisfy what the rest of the daemon relies on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_config: invariant failed: %s\n", #cond);  \
			abort();                                                         \
		}                                                                        \
	} while (0)

static void check_str(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

static void check_path(const char *s, size_t size, int may_be_empty)
{
	check_str(s, size);
	if (s[0] == '\0') {
		CHECK(may_be_empty);
		return;
	}
	CHECK(s[0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512];
	char *text = malloc(size + 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults(&cfg);
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = config_parse("fuzz.toml", text, &cfg, err, sizeof(err));
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		config_finish(&cfg);
		check_path(cfg.socket_path, sizeof(cfg.socket_path), 0);
		check_path(cfg.state_dir, sizeof(cfg.state_dir), 0);
		check_path(cfg.frontd_path, sizeof(cfg.frontd_path), 1);
		check_path(cfg.img_path, sizeof(cfg.img_path), 0);
		check_path(cfg.mount_path, sizeof(cfg.mount_path), 0);
		check_path(cfg.btrfs_mount, sizeof(cfg.btrfs_mount), 1);
		/* Room for names derived from configured paths. */
		CHECK(strlen(cfg.state_dir) + 64 < sizeof(cfg.state_dir));
		check_str(cfg.socket_group, sizeof(cfg.socket_group));
		check_str(cfg.frontd_user, sizeof(cfg.frontd_user));
		check_str(cfg.admin_group, sizeof(cfg.admin_group));
		check_str(cfg.auto_cleanup_keep, sizeof(cfg.auto_cleanup_keep));
		CHECK(cfg.auto_cleanup_keep[0] != '\0');
		CHECK(cfg.backend == BACKEND_AUTO || cfg.backend == BACKEND_LOOP ||
		      cfg.backend == BACKEND_BASE);
		CHECK(cfg.img_max_percent >= 0.0 && cfg.img_max_percent <= 100.0);
	} else {
		/* "name:line: reason" */
		check_str(err, sizeof(err));
		CHECK(strncmp(err, "fuzz.toml:", 10) == 0);
	}
	free(text);
	return 0;
}
