/* Unit tests for common/atomic_file.c: durable replacement and bounded reads. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic_file.h"

struct fx {
	char dir[64];
	int dfd;
};

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/wsckpt-test-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dfd < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	chmod(f->dir, 0700);
	close(f->dfd);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Names in the directory other than those listed; returns how many. */
static int count_entries(int dfd, const char *const *expected, size_t nexp)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int others = 0;

	assert_true(fd >= 0);
	d = fdopendir(fd);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		bool known = false;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		for (size_t i = 0; i < nexp; i++)
			known |= strcmp(de->d_name, expected[i]) == 0;
		if (!known) {
			print_message("unexpected entry: %s\n", de->d_name);
			others++;
		}
	}
	closedir(d);
	return others;
}

static void expect_content(int dfd, const char *name, const void *data, size_t len)
{
	char *buf = NULL;
	size_t got = 0;

	assert_int_equal(read_file_at(dfd, name, 1 << 20, &buf, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(buf, data, len);
	assert_int_equal(buf[len], '\0');
	free(buf);
}

static void put_file(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* ---- atomic_write_at ---------------------------------------------------- */

static void test_creates_with_mode(void **state)
{
	struct fx *f = *state;
	static const struct {
		mode_t umask_, mode;
	} cases[] = { { 077, 0644 }, { 022, 0600 }, { 0777, 0640 }, { 0, 0600 }, { 027, 0755 } };
	struct stat st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];
		mode_t old = umask(cases[i].umask_);
		int rc;

		snprintf(name, sizeof(name), "f%zu", i);
		rc = atomic_write_at(f->dfd, name, "data", 4, cases[i].mode);
		umask(old);
		assert_int_equal(rc, 0);
		assert_int_equal(fstatat(f->dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, cases[i].mode);
		assert_int_equal(st.st_size, 4);
		expect_content(f->dfd, name, "data", 4);
	}
}

static void test_replaces_existing(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "state.json", "old-link" };
	struct stat before, after;
	const char *next = "{\"version\":1,\"workspaces\":[]}\n";

	assert_int_equal(atomic_write_at(f->dfd, "state.json", "old content that is longer", 26,
					 0600),
			 0);
	/* A hard link keeps the old inode visible: replacement must not rewrite in place. */
	assert_int_equal(linkat(f->dfd, "state.json", f->dfd, "old-link", 0), 0);
	assert_int_equal(fstatat(f->dfd, "state.json", &before, 0), 0);

	assert_int_equal(atomic_write_at(f->dfd, "state.json", next, strlen(next), 0600), 0);
	assert_int_equal(fstatat(f->dfd, "state.json", &after, 0), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	expect_content(f->dfd, "state.json", next, strlen(next));
	expect_content(f->dfd, "old-link", "old content that is longer", 26);
	assert_int_equal(count_entries(f->dfd, names, 2), 0);

	/* many rewrites, no leftovers */
	for (int i = 0; i < 50; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "gen %d", i);
		assert_int_equal(atomic_write_at(f->dfd, "state.json", buf, (size_t)n, 0600), 0);
		expect_content(f->dfd, "state.json", buf, (size_t)n);
	}
	assert_int_equal(count_entries(f->dfd, names, 2), 0);
}

static void test_empty_and_binary(void **state)
{
	struct fx *f = *state;
	uint8_t bin[4096];
	const char *const names[] = { "empty", "bin" };

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7);
	assert_int_equal(atomic_write_at(f->dfd, "empty", "", 0, 0600), 0);
	expect_content(f->dfd, "empty", "", 0);
	assert_int_equal(atomic_write_at(f->dfd, "bin", bin, sizeof(bin), 0600), 0);
	expect_content(f->dfd, "bin", bin, sizeof(bin));
	assert_int_equal(count_entries(f->dfd, names, 2), 0);
}

static void test_replaces_symlink_not_target(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "target", "link" };
	struct stat st;

	put_file(f->dfd, "target", "precious");
	assert_int_equal(symlinkat("target", f->dfd, "link"), 0);
	assert_int_equal(atomic_write_at(f->dfd, "link", "new", 3, 0600), 0);
	/* The link itself was replaced; what it pointed at is untouched. */
	assert_int_equal(fstatat(f->dfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	expect_content(f->dfd, "link", "new", 3);
	expect_content(f->dfd, "target", "precious", 8);
	assert_int_equal(count_entries(f->dfd, names, 2), 0);
}

static void test_bad_dirfd(void **state)
{
	struct fx *f = *state;
	int filefd, closedfd;

	assert_int_equal(atomic_write_at(-1, "x", "a", 1, 0600), -EBADF);
	closedfd = dup(f->dfd);
	close(closedfd);
	assert_int_equal(atomic_write_at(closedfd, "x", "a", 1, 0600), -EBADF);
	/* an fd that is not a directory */
	put_file(f->dfd, "plain", "keep me");
	filefd = openat(f->dfd, "plain", O_RDONLY | O_CLOEXEC);
	assert_true(filefd >= 0);
	assert_int_equal(atomic_write_at(filefd, "x", "a", 1, 0600), -ENOTDIR);
	close(filefd);
	expect_content(f->dfd, "plain", "keep me", 7);
	{
		const char *const names[] = { "plain" };
		assert_int_equal(count_entries(f->dfd, names, 1), 0);
	}
	assert_int_equal(fsync_dir(-1), -EBADF);
	assert_int_equal(fsync_dir(f->dfd), 0);
}

static void test_bad_names(void **state)
{
	struct fx *f = *state;
	char longname[700];
	const char *const none[] = { NULL };

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(atomic_write_at(f->dfd, longname, "a", 1, 0600), -ENAMETOOLONG);
	longname[250] = '\0'; /* fits NAME_MAX, its tmp name does not */
	assert_int_equal(atomic_write_at(f->dfd, longname, "a", 1, 0600), -ENAMETOOLONG);
	assert_true(atomic_write_at(f->dfd, "", "a", 1, 0600) < 0);
	assert_true(atomic_write_at(f->dfd, ".", "a", 1, 0600) < 0);
	assert_true(atomic_write_at(f->dfd, "..", "a", 1, 0600) < 0);
	assert_int_equal(count_entries(f->dfd, none, 0), 0);
}

/* A name with a '/' would put the tmp file in another directory than the target. */
static void test_rejects_slash_in_name(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "sub", ".sub" };
	int sub;

	assert_int_equal(mkdirat(f->dfd, "sub", 0700), 0);
	assert_int_equal(mkdirat(f->dfd, ".sub", 0700), 0);
	assert_int_equal(atomic_write_at(f->dfd, "sub/file", "a", 1, 0600), -EINVAL);
	assert_int_equal(atomic_write_at(f->dfd, "/tmp/abs", "a", 1, 0600), -EINVAL);
	assert_int_equal(count_entries(f->dfd, names, 2), 0);
	sub = openat(f->dfd, "sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	assert_int_equal(count_entries(sub, names, 0), 0);
	close(sub);
	sub = openat(f->dfd, ".sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	assert_int_equal(count_entries(sub, names, 0), 0);
	close(sub);
}

/* rename() fails (target is a non-empty directory): old stays, tmp is removed. */
static void test_rename_failure_cleans_up(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "state.json" };
	struct stat st;
	int sub;

	assert_int_equal(mkdirat(f->dfd, "state.json", 0700), 0);
	sub = openat(f->dfd, "state.json", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sub >= 0);
	put_file(sub, "inner", "inner data");
	assert_int_equal(atomic_write_at(f->dfd, "state.json", "x", 1, 0600), -EISDIR);
	assert_int_equal(fstatat(f->dfd, "state.json", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	expect_content(sub, "inner", "inner data", 10);
	close(sub);
	assert_int_equal(count_entries(f->dfd, names, 1), 0);
}

/* write() fails half way (RLIMIT_FSIZE): old content stays, tmp is removed. */
static void test_write_failure_keeps_old(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "state.json" };
	char big[8192];
	pid_t pid;
	int status;

	put_file(f->dfd, "state.json", "old state");
	memset(big, 'b', sizeof(big));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 1000, 1000 };
		int rc;
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(90);
		rc = atomic_write_at(f->dfd, "state.json", big, sizeof(big), 0600);
		_exit(rc == -EFBIG ? 0 : 91);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_content(f->dfd, "state.json", "old state", 9);
	assert_int_equal(count_entries(f->dfd, names, 1), 0);
}

/* A read-only directory: nothing can be created, the old file is untouched. */
static void test_readonly_dir_keeps_old(void **state)
{
	struct fx *f = *state;
	const char *const names[] = { "state.json" };
	pid_t pid;
	int status;

	put_file(f->dfd, "state.json", "old state");
	assert_int_equal(fchmod(f->dfd, 0555), 0);
	/* root ignores permissions: do the write as an unprivileged uid. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
				       setresuid(65534, 65534, 65534) < 0))
			_exit(90);
		rc = atomic_write_at(f->dfd, "state.json", "new", 3, 0600);
		_exit(rc == -EACCES ? 0 : 91);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(fchmod(f->dfd, 0700), 0);
	expect_content(f->dfd, "state.json", "old state", 9);
	assert_int_equal(count_entries(f->dfd, names, 1), 0);
}

/* ---- read_file_at ------------------------------------------------------- */

static void test_read_basic(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 99;

	put_file(f->dfd, "a", "hello");
	assert_int_equal(read_file_at(f->dfd, "a", 100, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	buf = NULL;
	assert_int_equal(read_file_at(f->dfd, "a", 100, &buf, NULL), 0);
	assert_string_equal(buf, "hello");
	free(buf);
	buf = NULL;
	put_file(f->dfd, "empty", "");
	assert_int_equal(read_file_at(f->dfd, "empty", 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
	buf = NULL;
	/* absolute names work with AT_FDCWD */
	{
		char path[128];
		snprintf(path, sizeof(path), "%s/a", f->dir);
		assert_int_equal(read_file_at(AT_FDCWD, path, 100, &buf, &len), 0);
		assert_string_equal(buf, "hello");
		free(buf);
		buf = NULL;
	}
	assert_int_equal(read_file_at(f->dfd, "missing", 100, &buf, &len), -ENOENT);
	assert_null(buf);
}

static void test_read_max_size(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;

	put_file(f->dfd, "ten", "0123456789");
	assert_int_equal(read_file_at(f->dfd, "ten", 10, &buf, &len), 0);
	assert_int_equal(len, 10);
	free(buf);
	buf = NULL;
	assert_int_equal(read_file_at(f->dfd, "ten", 9, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_file_at(f->dfd, "ten", 0, &buf, &len), -EFBIG);
	assert_null(buf);
	/* a sparse huge file is refused from its size, without reading it */
	{
		int fd = openat(f->dfd, "huge", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)1 << 40), 0);
		close(fd);
		assert_int_equal(read_file_at(f->dfd, "huge", 1 << 20, &buf, &len), -EFBIG);
		assert_null(buf);
	}
}

static void test_read_refuses_symlink(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;

	put_file(f->dfd, "real", "secret");
	assert_int_equal(symlinkat("real", f->dfd, "link"), 0);
	assert_int_equal(symlinkat("/etc/shadow", f->dfd, "abs-link"), 0);
	assert_int_equal(symlinkat("nowhere", f->dfd, "dangling"), 0);
	assert_int_equal(read_file_at(f->dfd, "link", 100, &buf, NULL), -ELOOP);
	assert_int_equal(read_file_at(f->dfd, "abs-link", 100, &buf, NULL), -ELOOP);
	assert_int_equal(read_file_at(f->dfd, "dangling", 100, &buf, NULL), -ELOOP);
	assert_null(buf);
}

static void test_read_refuses_directory(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;

	assert_int_equal(mkdirat(f->dfd, "d", 0700), 0);
	assert_int_equal(read_file_at(f->dfd, "d", 1 << 20, &buf, NULL), -EINVAL);
	assert_int_equal(read_file_at(f->dfd, ".", 1 << 20, &buf, NULL), -EINVAL);
	assert_null(buf);
}

/* A FIFO is not a regular file: refused at once, never waited on. */
static void test_read_refuses_fifo_without_blocking(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *buf = NULL;
		int rc;
		alarm(3);
		rc = read_file_at(f->dfd, "fifo", 100, &buf, NULL);
		_exit(rc == -EINVAL && buf == NULL ? 0 : 91);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("read_file_at blocked on a FIFO (killed by signal %d)", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_read_dev_null(void **state)
{
	char *buf = NULL;

	assert_int_equal(read_file_at(AT_FDCWD, "/dev/null", 100, &buf, NULL), -EINVAL);
	assert_null(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_with_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaces_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaces_symlink_not_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_dirfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_slash_in_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_failure_cleans_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_dir_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_fifo_without_blocking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_dev_null, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
