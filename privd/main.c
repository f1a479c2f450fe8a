/*
 * ws-ckptd: the root helper. Startup order matters: lock, state, backend, reconcile,
 * socket, then frontd; only then is the socket served. See DESIGN.md §1.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "privd/backend.h"
#include "privd/channel.h"
#include "privd/config_ops.h"
#include "privd/frontd_spawn.h"
#include "privd/fsutil.h"
#include "privd/index_journal.h"
#include "privd/listener.h"
#include "privd/lockfile.h"
#include "privd/migrate.h"
#include "privd/notify.h"
#include "privd/ops.h"
#include "privd/privd.h"
#include "privd/reclaim.h"
#include "privd/reconcile.h"
#include "privd/rollback_finish.h"
#include "privd/scheduler.h"
#include "privd/aio_sync.h"
#include "privd/sandbox.h"
#include "privd/state_store.h"
#include "privd/worker.h"

struct privd *g_privd;

static struct {
	char frontd_path[4096];
	pid_t frontd_pid;
	int backoff_s;
	long long last_spawn_ms;
	bool stopping;
	bool failed; /* could not serve: exit non-zero so a supervisor restarts us */
	struct event *respawn_ev;
} run;

static void usage(FILE *f)
{
	fprintf(f, "usage: ws-ckptd [-f] [-c FILE] [-v] [--mount-only | --no-mount]\n"
		   "  -f            stay in the foreground and log to stderr (default: daemonize, log to syslog)\n"
		   "  -c FILE       configuration file (default %s; a missing file means defaults)\n"
		   "  -v            more logging (repeat for more)\n"
		   "  --mount-only  make the backend available (image, loop device, mount) and exit\n"
		   "  --no-mount    serve a backend that is already mounted; never mount or attach a loop device\n"
		   "  -h            this help\n",
		CONFIG_DEFAULT_PATH);
}

enum { OPT_MOUNT_ONLY = 256, OPT_NO_MOUNT };

static const struct option long_opts[] = {
	{ "mount-only", no_argument, NULL, OPT_MOUNT_ONLY },
	{ "no-mount", no_argument, NULL, OPT_NO_MOUNT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int set_mount_mode(struct privd *pd, enum mount_mode m)
{
	if (pd->mount_mode != MOUNT_AND_SERVE && pd->mount_mode != m) {
		fprintf(stderr, "ws-ckptd: --mount-only and --no-mount exclude each other\n");
		return -1;
	}
	pd->mount_mode = m;
	return 0;
}

static int parse_args(int argc, char **argv, struct privd *pd, const char **conf)
{
	int opt;

	*conf = CONFIG_DEFAULT_PATH;
	while ((opt = getopt_long(argc, argv, "fc:vhV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			pd->foreground = true;
			break;
		case 'c':
			*conf = optarg;
			break;
		case 'v':
			pd->verbosity++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("ws-ckptd %s\n", WSCKPT_VERSION);
			exit(0);
		case OPT_MOUNT_ONLY:
		case OPT_NO_MOUNT:
			if (set_mount_mode(pd, opt == OPT_MOUNT_ONLY ? MOUNT_ONLY : MOUNT_NEVER) < 0)
				return -1;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static int resolve_accounts(struct privd *pd, char *err, size_t errsz)
{
	struct passwd *pw = getpwnam(pd->cfg.frontd_user);
	struct group *gr;

	if (!pw) {
		snprintf(err, errsz,
			 "frontd_user '%s' does not exist. Create it with: groupadd --system %s; useradd --system -g %s -d /nonexistent -s /usr/sbin/nologin %s (or run systemd-sysusers)",
			 pd->cfg.frontd_user, pd->cfg.socket_group, pd->cfg.socket_group, pd->cfg.frontd_user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsz, "frontd_user '%s' is root; it must be an unprivileged account",
			 pd->cfg.frontd_user);
		return -1;
	}
	pd->frontd_uid = pw->pw_uid;
	pd->frontd_gid = pw->pw_gid;
	gr = getgrnam(pd->cfg.socket_group);
	if (!gr) {
		snprintf(err, errsz,
			 "socket_group '%s' does not exist. Create it with: groupadd --system %s (then add users: usermod -aG %s USER)",
			 pd->cfg.socket_group, pd->cfg.socket_group, pd->cfg.socket_group);
		return -1;
	}
	pd->socket_gid = gr->gr_gid;
	if (pd->cfg.admin_group[0]) {
		gr = getgrnam(pd->cfg.admin_group);
		if (!gr) {
			snprintf(err, errsz, "admin_group '%s' does not exist. Create it with: groupadd %s",
				 pd->cfg.admin_group, pd->cfg.admin_group);
			return -1;
		}
		pd->admin_gid = gr->gr_gid;
		pd->has_admin_group = true;
	}
	return 0;
}

static int open_state_dir(struct privd *pd, char *err, size_t errsz)
{
	if (mkdir_p(pd->cfg.state_dir, 0700) < 0) {
		snprintf(err, errsz, "cannot create state dir %s: %s", pd->cfg.state_dir, strerror(errno));
		return -1;
	}
	pd->state_dir_fd = open_nofollow_path(pd->cfg.state_dir, O_RDONLY | O_DIRECTORY);
	if (pd->state_dir_fd < 0) {
		snprintf(err, errsz, "cannot open state dir %s: %s", pd->cfg.state_dir,
			 strerror(-pd->state_dir_fd));
		return -1;
	}
	if (fchmod(pd->state_dir_fd, 0700) < 0)
		log_warn("cannot set mode 0700 on %s: %s", pd->cfg.state_dir, strerror(errno));
	if (mkdirat(pd->state_dir_fd, "indexes", 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "cannot create %s/indexes: %s", pd->cfg.state_dir, strerror(errno));
		return -1;
	}
	pd->indexes_fd = openat(pd->state_dir_fd, "indexes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pd->indexes_fd < 0) {
		snprintf(err, errsz, "cannot open %s/indexes: %s", pd->cfg.state_dir, strerror(errno));
		return -1;
	}
	return 0;
}

static void spawn_frontd(void)
{
	char err[512];
	int fd;

	run.last_spawn_ms = mono_ms();
	fd = frontd_spawn(g_privd, &run.frontd_pid, err, sizeof(err));
	if (fd < 0 || channel_open(g_privd, fd) < 0) {
		log_err("cannot start frontd: %s", fd < 0 ? err : "channel setup failed");
		if (fd >= 0)
			close(fd);
		run.failed = true;
		/* loopexit, not loopbreak: a break requested before dispatch starts is lost. */
		event_base_loopexit(g_privd->base, NULL);
	}
}

static void on_respawn(evutil_socket_t fd, short what, void *arg)
{
	if (!run.stopping)
		spawn_frontd();
}

static void reap_frontd(void)
{
	pid_t pid = run.frontd_pid, r;
	int status = 0;

	if (pid <= 0)
		return;
	/* A compromised frontd may ignore SIGTERM: never wait on it for more than 2 s. */
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		r = waitpid(pid, &status, WNOHANG);
		if (r != 0 && !(r < 0 && errno == EINTR))
			break;
		usleep(10000);
	}
	if (r == 0) {
		log_warn("frontd (pid %d) ignored SIGTERM; killing it", (int)pid);
		kill(pid, SIGKILL);
		while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	run.frontd_pid = 0;
	/* SIGSYS: its seccomp filter stopped a forbidden system call (a bug or an attack). */
	if (r == pid && WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		log_warn("frontd (pid %d) was killed by signal %d%s", (int)pid, WTERMSIG(status),
			 WTERMSIG(status) == SIGSYS ? " (SIGSYS: a system call its seccomp filter forbids)" : "");
}

/* frontd went away: restart it with exponential backoff (1 s .. 30 s). */
static void on_channel_close(void)
{
	struct timeval tv;

	reap_frontd();
	if (run.stopping)
		return;
	if (mono_ms() - run.last_spawn_ms > 60000)
		run.backoff_s = 0;
	run.backoff_s = run.backoff_s ? (run.backoff_s * 2 > 30 ? 30 : run.backoff_s * 2) : 1;
	log_warn("frontd exited; restarting it in %d s", run.backoff_s);
	tv.tv_sec = run.backoff_s;
	tv.tv_usec = 0;
	evtimer_add(run.respawn_ev, &tv);
}

#define DRAIN_LIMIT_MS 10000

/* Graceful stop: new requests get a retryable Busy; running workers (init copy, diff,
 * recover) get up to DRAIN_LIMIT_MS to finish so their clients see a real result. */
static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	static long long deadline;
	struct timeval tv = { 0, 100000 };

	if (!deadline)
		deadline = mono_ms() + DRAIN_LIMIT_MS;
	if (worker_active() == 0 || mono_ms() >= deadline) {
		if (worker_active())
			log_warn("stopping with %d operation(s) still running; they are resolved at the next start",
				 worker_active());
		event_base_loopexit(g_privd->base, NULL);
		return;
	}
	event_base_once(g_privd->base, -1, EV_TIMEOUT, drain_tick, NULL, &tv);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	if (g_privd->stopping)
		return;
	log_info("received %s, shutting down (%d operation(s) in flight)",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", worker_active());
	run.stopping = true;
	g_privd->stopping = true;
	/* A cleanup waiting for the btrfs cleaner answers now (cleaner_done false if it
	 * is not finished) instead of holding the drain for up to its 30 s bound. */
	reclaim_stop_all();
	drain_tick(-1, 0, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	char err[1024];

	config_reload(g_privd, err, sizeof(err)); /* logs either way */
}

static int load_state(struct privd *pd, bool *have_state, bool *rebuild, char *err, size_t errsz)
{
	int rc = state_load(pd, err, errsz);
	char aside[128];

	*rebuild = false;
	if (rc == -2) {
		/* Neither crash-loop nor forget: keep the bad file, rebuild from indexes + disk. */
		int e = state_set_aside(pd, aside, sizeof(aside));
		if (e < 0) {
			snprintf(err + strlen(err), errsz - strlen(err), "; and it cannot be moved aside: %s",
				 strerror(-e));
			return -1;
		}
		log_err("%s; kept it as %s/%s and rebuilding the registry from indexes/ and the backend",
			err, pd->cfg.state_dir, aside);
		*rebuild = true;
		*have_state = false;
		return 0;
	}
	if (rc < 0)
		return -1;
	*have_state = rc == 1;
	*rebuild = !*have_state;
	if (*have_state)
		log_info("Restoring from persisted state (%zu workspace(s))", pd->reg.n);
	else
		log_info("No state.json in %s: fresh start", pd->cfg.state_dir);
	return 0;
}

/*
 * Start-up up to and including the backend: accounts, state dir, lock, state, backend.
 * This is all --mount-only does; *stale tells whether the lock file was left by a run that
 * did not stop cleanly.
 */
static void close_fds(struct privd *pd);

static int startup_backend(struct privd *pd, bool *stale, bool *rebuild, char *err, size_t errsz)
{
	bool have_state = false;

	if (resolve_accounts(pd, err, errsz) < 0 || open_state_dir(pd, err, errsz) < 0)
		return -1;
	/* --mount-only serves nothing, so it does not need frontd. */
	if (pd->mount_mode != MOUNT_ONLY && frontd_locate(pd, run.frontd_path, sizeof(run.frontd_path)) < 0) {
		snprintf(err, errsz, "cannot find ws-ckpt-frontd (tried %.2048s); set frontd_path in the config",
			 run.frontd_path);
		return -1;
	}
	pd->lock_fd = lockfile_acquire(pd->state_dir_fd, pd->cfg.state_dir, stale, err, errsz);
	if (pd->lock_fd < 0)
		return -1;
	if (*stale)
		log_warn("Detected unclean shutdown (lockfile %s/%s present from previous run); %s",
			 pd->cfg.state_dir, LOCK_FILE,
			 pd->mount_mode == MOUNT_ONLY ? "leaving it for the serving daemon's full reconcile"
						      : "running a full reconcile");
	if (load_state(pd, &have_state, rebuild, err, errsz) < 0 ||
	    backend_bootstrap(pd, have_state, err, errsz) < 0)
		return -1;
	return 0;
}

static int startup(struct privd *pd, char *err, size_t errsz)
{
	bool stale = false, rebuild = false;

	if (startup_backend(pd, &stale, &rebuild, err, errsz) < 0)
		return -1;
	if (rebuild) {
		int moved = migrate_v0_indexes(pd), found = registry_rebuild_from_indexes(pd);
		if (moved || found)
			log_info("Registry rebuilt: %d index(es) migrated from the v0 layout, %d workspace(s) registered",
				 moved, found);
	}
	reconcile_all(pd);
	if (state_save(pd) < 0) {
		snprintf(err, errsz, "cannot write %s/%s", pd->cfg.state_dir, STATE_FILE);
		return -1;
	}
	pd->listen_fd = listener_from_systemd(err, errsz);
	if (pd->listen_fd == -2)
		return -1;
	pd->socket_activated = pd->listen_fd >= 0;
	if (!pd->socket_activated)
		pd->listen_fd = listener_create(pd->cfg.socket_path, pd->socket_gid, err, errsz);
	return pd->listen_fd < 0 ? -1 : 0;
}

/*
 * --mount-only: bootstrap the backend in the caller's (the host's) mount namespace and
 * exit. state.json is not written: nothing reconciled the registry yet (a state file set
 * aside as unreadable must stay absent, so the serving daemon rebuilds from indexes/).
 * The lock file is removed only if we created it: a stale one is left in place so the
 * serving daemon still sees the unclean shutdown.
 */
static int mount_only(struct privd *pd)
{
	char err[4096];
	bool stale = false, rebuild = false;
	int rc = startup_backend(pd, &stale, &rebuild, err, sizeof(err));

	if (rc < 0)
		log_err("--mount-only failed: %s", err);
	else
		log_info("Backend ready at %s (--mount-only); exiting", pd->be.data_root);
	if (pd->lock_fd >= 0) {
		if (stale)
			close(pd->lock_fd);
		else
			lockfile_release(pd->state_dir_fd, pd->lock_fd);
		pd->lock_fd = -1;
	}
	registry_free(&pd->reg);
	close_fds(pd);
	return rc < 0 ? 1 : 0;
}

static void shutdown_all(struct privd *pd)
{
	notify_send("STOPPING=1");
	run.stopping = true;
	channel_close();
	reap_frontd();
	frontd_launcher_stop();
	if (pd->listen_fd >= 0) {
		if (!pd->socket_activated)
			listener_remove(pd->cfg.socket_path);
		close(pd->listen_fd);
	}
	if (pd->state_dir_fd >= 0 && pd->lock_fd >= 0) {
		rollback_intents_settle(pd);
		pending_settle_all(pd);
		index_compact_all(pd);
		state_save(pd);
		lockfile_release(pd->state_dir_fd, pd->lock_fd);
	}
	log_info("ws-ckptd stopped (mount left in place)");
}

static void close_fds(struct privd *pd)
{
	int fds[] = { pd->data_root_fd, pd->snapshots_fd, pd->indexes_fd, pd->state_dir_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

static int serve(struct privd *pd)
{
	struct event *sigs[3];
	int signums[3] = { SIGTERM, SIGINT, SIGHUP };

	pd->base = event_base_new();
	if (!pd->base)
		return -1;
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(pd->base, signums[i], signums[i] == SIGHUP ? on_hup : on_stop_signal, NULL);
		event_add(sigs[i], NULL);
	}
	run.respawn_ev = evtimer_new(pd->base, on_respawn, NULL);
	channel_on_close = on_channel_close;
	spawn_frontd();
	log_info("ws-ckptd %s serving on %s", WSCKPT_VERSION, pd->cfg.socket_path);
	scheduler_arm(pd);
	notify_send("READY=1\nSTATUS=serving");
	event_base_dispatch(pd->base);
	shutdown_all(pd);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(run.respawn_ev);
	scheduler_stop();
	event_base_free(pd->base);
	return 0;
}

int main(int argc, char **argv)
{
	static struct privd pd;
	const char *conf;
	char err[4096];
	int rc;

	g_privd = &pd;
	pd.state_dir_fd = pd.indexes_fd = pd.data_root_fd = pd.snapshots_fd = -1;
	pd.lock_fd = pd.listen_fd = -1;
	if (parse_args(argc, argv, &pd, &conf) < 0)
		return 2;
	log_init("ws-ckptd", true, pd.verbosity);
	if (config_load(conf, &pd.cfg, err, sizeof(err)) < 0) {
		log_err("config error: %s", err);
		return 1;
	}
	if (geteuid() != 0) {
		log_err("ws-ckptd must run as root (it attaches loop devices, mounts and snapshots)");
		return 1;
	}
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	pd.started_mono_ms = mono_ms();
	if (pd.mount_mode == MOUNT_ONLY)
		return mount_only(&pd);
	notify_init();
	if (startup(&pd, err, sizeof(err)) < 0) {
		log_err("startup failed: %s", err);
		if (pd.lock_fd >= 0)
			lockfile_release(pd.state_dir_fd, pd.lock_fd);
		close_fds(&pd);
		return 1;
	}
	if (!pd.foreground) {
		if (daemon(0, 0) < 0) {
			log_err("daemon: %s", strerror(errno));
			return 1;
		}
		log_init("ws-ckptd", false, pd.verbosity);
		dprintf(pd.lock_fd, "%d\n", (int)getpid());
	}
	/* After daemon(): an AIO context does not survive a fork. */
	rc = aio_sync_init(&pd.aio);
	if (rc < 0)
		log_warn("no native AIO (%s): a discarding rollback syncs its journal record after its snapshot",
			 strerror(-rc));
	/* After daemon() (which forks) so the launcher is our child; see privd/sandbox.c. */
	if (sandbox_privd_enter(&pd, run.frontd_path, err, sizeof(err)) < 0) {
		log_err("cannot confine ws-ckptd: %s", err);
		frontd_launcher_stop();
		if (!pd.socket_activated)
			listener_remove(pd.cfg.socket_path);
		lockfile_release(pd.state_dir_fd, pd.lock_fd);
		close_fds(&pd);
		return 1;
	}
	serve(&pd);
	registry_free(&pd.reg);
	close_fds(&pd);
	return run.failed ? 1 : 0;
}
