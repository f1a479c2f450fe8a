/* bench/spawnbench.c — time a command run as a process, N times (issue 7 benchmark).
 *
 *   spawnbench N PROGRAM [ARG...]
 *
 * Each run: posix_spawn (vfork-based, so the harness adds little) + waitpid; stdout and
 * stderr go to /dev/null. Every "@I@" in an argument is replaced by the run number. Prints
 * one latency in microseconds per run; exits 1 on the first run that fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char *subst(const char *s, long i)
{
	char num[32], *out = malloc(strlen(s) * 8 + 64);
	size_t o = 0;
	int nl = snprintf(num, sizeof(num), "%ld", i);
	while (*s) {
		if (!strncmp(s, "@I@", 3)) {
			memcpy(out + o, num, (size_t)nl);
			o += (size_t)nl;
			s += 3;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = 0;
	return out;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawnbench N PROGRAM [ARG...]\n");
		return 2;
	}
	long n = atol(argv[1]);
	int na = argc - 2;
	char **args = calloc((size_t)na + 1, sizeof(char *));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	for (long i = 0; i < n; i++) {
		for (int k = 0; k < na; k++)
			args[k] = subst(argv[k + 2], i);
		pid_t pid;
		int st;
		double t0 = now_us();
		if (posix_spawn(&pid, args[0], &fa, NULL, args, environ) != 0) {
			perror("spawnbench: posix_spawn");
			return 1;
		}
		if (waitpid(pid, &st, 0) < 0) {
			perror("spawnbench: waitpid");
			return 1;
		}
		double t1 = now_us();
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "spawnbench: run %ld of %s failed (status %d)\n", i, args[0], st);
			return 1;
		}
		printf("%.1f\n", t1 - t0);
		for (int k = 0; k < na; k++)
			free(args[k]);
	}
	return 0;
}
