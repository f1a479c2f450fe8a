/*
 * ws-ckpt-frontd: started only by ws-ckptd, already unprivileged, with two inherited
 * descriptors: the privsep channel and the listening socket. It needs no file access.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "frontd/frontd.h"
#include "frontd/sandbox.h"

struct event_base *g_base;
struct frontd_opts g_opts = { .chan_fd = -1, .listen_fd = -1, .max_conn = 256, .max_per_uid = 32 };
/* The empty directory we chroot into (frontd/sandbox.c); only main needs it. */
static int root_fd = -1;

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 1000000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "channel-fd", required_argument, NULL, 'c' },
		{ "listen-fd", required_argument, NULL, 'l' },
		{ "root-fd", required_argument, NULL, 'r' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "max-per-uid", required_argument, NULL, 'u' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned v;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
		case 'l':
			if (parse_uint(optarg, &v) < 0)
				return -1;
			*(opt == 'c' ? &g_opts.chan_fd : &g_opts.listen_fd) = (int)v;
			break;
		case 'r':
			if (parse_uint(optarg, &v) < 0)
				return -1;
			root_fd = (int)v;
			break;
		case 'm':
			if (parse_uint(optarg, &g_opts.max_conn) < 0)
				return -1;
			break;
		case 'u':
			if (parse_uint(optarg, &g_opts.max_per_uid) < 0)
				return -1;
			break;
		case 'f':
			g_opts.foreground = true;
			break;
		case 'v':
			g_opts.verbosity++;
			break;
		default:
			return -1;
		}
	}
	return (g_opts.chan_fd < 0 || g_opts.listen_fd < 0 || root_fd < 0 || optind != argc) ? -1 : 0;
}

static int check_fd_is_socket(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM ? 0 : -1;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(g_base);
}

int main(int argc, char **argv)
{
	struct event *sigterm, *sigint;

	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "ws-ckpt-frontd is started by ws-ckptd; it is not meant to be run by hand\n");
		return 2;
	}
	log_init("ws-ckpt-frontd", g_opts.foreground, g_opts.verbosity);
	sandbox_prepare();
	if (check_fd_is_socket(g_opts.chan_fd) < 0 || check_fd_is_socket(g_opts.listen_fd) < 0) {
		log_err("inherited descriptors are not stream sockets");
		return 2;
	}
	if (geteuid() == 0) {
		log_err("refusing to run as root");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	g_base = event_base_new();
	if (!g_base || privchan_open(g_opts.chan_fd) < 0) {
		log_err("cannot set up the event loop");
		return 1;
	}
	sigterm = evsignal_new(g_base, SIGTERM, on_term, NULL);
	sigint = evsignal_new(g_base, SIGINT, on_term, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	listener_start(g_opts.listen_fd);
	/* Confined before the first client byte is read; without the sandbox we do not serve. */
	if (sandbox_enter(root_fd) < 0)
		return 1;
	log_debug("frontd ready (uid %u)", (unsigned)getuid());
	event_base_dispatch(g_base);
	sessions_close_all();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(g_base);
	return 0;
}
