/* bench/sockclient.c — a persistent NDJSON client of ws-ckptd (issue 7 benchmark).
 *
 *   sockclient [-s STOPFILE] [-e] SOCK N TEMPLATE [TEMPLATE2 ...]
 *
 * Connects once, then N times sends each TEMPLATE in turn (one request line each; every
 * "@I@" in a template is replaced by the iteration number) and waits for its final reply
 * (progress lines are skipped). With several templates an iteration is one cycle through
 * all of them and is timed as a whole. Prints one latency in microseconds per iteration on
 * stdout, then "# <start_us> <end_us> <iterations> <reply_bytes_last>" (CLOCK_MONOTONIC).
 * -s: stop early once STOPFILE exists (checked before each iteration).
 * -e: an error reply ("ok":false) is counted and ignored instead of fatal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char *rbuf;
static size_t rlen, rcap;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("sockclient: send");
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Read one final reply line into rbuf[0..return) (NUL-terminated); keeps extra bytes. */
static size_t read_reply(int fd, size_t *consumed)
{
	size_t scan = 0;
	for (;;) {
		char *nl = memchr(rbuf + scan, '\n', rlen - scan);
		if (nl) {
			size_t len = (size_t)(nl - rbuf);
			*nl = 0;
			if (strstr(rbuf, "\"progress\"") && !strstr(rbuf, "\"ok\"")) {
				memmove(rbuf, nl + 1, rlen - len - 1);
				rlen -= len + 1;
				scan = 0;
				continue;
			}
			*consumed = len + 1;
			return len;
		}
		scan = rlen;
		if (rcap - rlen < 65536) {
			rcap = rcap * 2 + 65536;
			rbuf = realloc(rbuf, rcap);
			if (!rbuf)
				exit(1);
		}
		ssize_t r = recv(fd, rbuf + rlen, rcap - rlen - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "sockclient: connection closed (%s)\n", r < 0 ? strerror(errno) : "EOF");
			exit(1);
		}
		rlen += (size_t)r;
	}
}

static char *subst(const char *tpl, long i)
{
	size_t cap = strlen(tpl) * 2 + 64, o = 0;
	char *out = malloc(cap), num[32];
	int nl = snprintf(num, sizeof(num), "%ld", i);
	for (const char *p = tpl; *p;) {
		if (!strncmp(p, "@I@", 3)) {
			memcpy(out + o, num, (size_t)nl);
			o += (size_t)nl;
			p += 3;
		} else {
			out[o++] = *p++;
		}
		if (o + 40 > cap)
			out = realloc(out, cap *= 2);
	}
	out[o++] = '\n';
	out[o] = 0;
	return out;
}

int main(int argc, char **argv)
{
	const char *stopfile = NULL;
	int ignore_err = 0, opt;
	while ((opt = getopt(argc, argv, "s:e")) != -1) {
		if (opt == 's')
			stopfile = optarg;
		else if (opt == 'e')
			ignore_err = 1;
		else
			return 2;
	}
	if (argc - optind < 3) {
		fprintf(stderr, "usage: sockclient [-s STOPFILE] [-e] SOCK N TEMPLATE...\n");
		return 2;
	}
	const char *sock = argv[optind];
	long n = atol(argv[optind + 1]);
	int ntpl = argc - optind - 2;
	char **tpl = argv + optind + 2;

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("sockclient: connect");
		return 1;
	}
	rcap = 1 << 20;
	rbuf = malloc(rcap);
	long errors = 0, done = 0;
	size_t last = 0;
	double start = now_us();
	for (long i = 0; i < n; i++) {
		if (stopfile && access(stopfile, F_OK) == 0)
			break;
		double t0 = now_us();
		for (int k = 0; k < ntpl; k++) {
			char *req = subst(tpl[k], i);
			size_t used;
			send_all(fd, req, strlen(req));
			last = read_reply(fd, &used);
			if (!strstr(rbuf, "\"ok\":true")) {
				errors++;
				if (!ignore_err) {
					fprintf(stderr, "sockclient: error reply to %s  -> %.2000s\n", req, rbuf);
					return 1;
				}
			}
			memmove(rbuf, rbuf + used, rlen - used);
			rlen -= used;
			free(req);
		}
		printf("%.1f\n", now_us() - t0);
		done++;
	}
	printf("# %.1f %.1f %ld %zu %ld\n", start, now_us(), done, last, errors);
	return 0;
}
