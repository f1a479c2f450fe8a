"""The split of mounting from serving that the systemd unit uses:

    ExecStartPre=+/usr/sbin/ws-ckptd --mount-only   (host mount namespace, no sandbox)
    ExecStart=/usr/sbin/ws-ckptd -f --no-mount      (private mount namespace, ProtectSystem=...)

PID 1 is not always systemd where these run, so the unit's namespace is emulated: the
serving daemon is started under `unshare --mount --propagation slave` with /usr, /etc,
/boot, /sys and /proc/sys remounted read-only (what ProtectSystem=full,
ProtectKernelTunables=, ProtectControlGroups= do; the real unit adds ReadWritePaths=).
Users work through the host's paths, so the checks are made from the host namespace.

Teardown: make_flex_daemon's cleanup unmounts everything under the daemon's temp dir and
detaches every loop device backed by its image, including those --mount-only attached.
"""
import os
import re
import subprocess

import pytest

import wsck

ALICE = wsck.ALICE
UNIT = wsck.ROOT / "systemd" / "ws-ckpt.service"


def run_privd(d, *args, timeout=120):
    """ws-ckptd -f -c CONF ARGS... to completion, output kept in the daemon's log list."""
    n = len(d.logfiles)
    logf = d.dir / ("daemon-%d.log" % n)
    d.logfiles.append(logf)
    p = subprocess.run([str(wsck.WSCKPTD), "-f", "-c", str(d.conf), "-v"] + list(args),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd="/",
                       env=wsck.user_env(None))
    logf.write_text(p.stdout)
    return p


def btrfs_mounts_at(path):
    """btrfs mounts at path in the host's (our) namespace, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if mp == str(path) and post.split()[0] == "btrfs":
                out.append(line.strip())
    return out


def privd_pids(d):
    return wsck.binary_pids(d.dir, (wsck.BUILD, wsck.TEST_BUILD))


# The unit's sandbox, as far as it concerns the file system (see systemd/ws-ckpt.service).
NS_SETUP = r"""
set -e
ro() { [ -d "$1" ] || return 0; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; }
ro /usr; ro /boot; ro /etc; ro /proc/sys; ro /sys
# ReadWritePaths=-/etc/ws-ckpt
if [ -d /etc/ws-ckpt ]; then mount --bind /etc/ws-ckpt /etc/ws-ckpt; fi
exec "$@"
"""


def start_in_unit_namespace(d):
    """Start ws-ckptd -f --no-mount in a private mount namespace like the unit's; the
    shell execs the daemon, so d.proc is ws-ckptd itself (stop/cleanup signal it)."""
    n = len(d.logfiles)
    logf = d.dir / ("daemon-%d.log" % n)
    d.logfiles.append(logf)
    with open(logf, "wb") as fh:
        d.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", NS_SETUP, "sh",
             str(wsck.WSCKPTD), "-f", "-c", str(d.conf), "-v", "--no-mount"],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, cwd="/",
            start_new_session=True, env=wsck.user_env(None))
    d.wait_ready()
    return d


def mountinfo_of(pid):
    with open("/proc/%d/mountinfo" % pid) as f:
        return f.read().splitlines()


def ro_in(lines, mp):
    """Is mp read-only (per-mount flag) in these mountinfo lines (last mount wins)?"""
    flags = [ln.split()[5] for ln in lines if ln.split()[4] == mp]
    return bool(flags) and "ro" in flags[-1].split(",")


def test_mount_only_then_no_mount_in_a_private_namespace(make_flex_daemon):
    d = make_flex_daemon(start=False)
    p = run_privd(d, "--mount-only")
    assert p.returncode == 0, p.stdout
    assert "--mount-only" in p.stdout and "exiting" in p.stdout, p.stdout
    # the mount is in the host's namespace, backed by a loop device on our image
    assert len(btrfs_mounts_at(d.mnt)) == 1, btrfs_mounts_at(d.mnt)
    assert len(wsck.loops_backing(d.img)) == 1, wsck.loop_devices()
    # nothing keeps running, the lock was released (and removed: it was not stale)
    assert privd_pids(d) == []
    assert not os.path.lexists(d.lock_file)

    start_in_unit_namespace(d)
    pid = d.pid
    assert os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt")
    inner = mountinfo_of(pid)
    assert ro_in(inner, "/usr") and ro_in(inner, "/etc"), [ln for ln in inner if " /usr " in ln]
    assert b"--no-mount" in wsck.proc_cmdline(pid), wsck.proc_cmdline(pid)
    assert "Reusing existing mount" in d.log, d.log_tail()

    # a user works through the host path: init, checkpoint, change, rollback
    ws = d.make_ws(ALICE, {"a.txt": "one\n", "sub/b.txt": "bee\n"})
    ws_id = wsck.init_ws(d, ALICE, ws)
    assert os.path.islink(ws)
    assert os.path.realpath(ws) == str(d.live_dir(ws_id))
    assert wsck.read_text(ws / "a.txt") == "one\n"
    wsck.checkpoint(d, ALICE, ws, "s1")
    wsck.write_as(ALICE, ws / "a.txt", "two\n")
    wsck.write_as(ALICE, ws / "new.txt", "new\n")
    assert wsck.read_text(ws / "a.txt") == "two\n"
    d.cli(["rollback", "-w", ws, "-s", "s1"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "one\n"
    assert wsck.read_text(ws / "sub" / "b.txt") == "bee\n"
    assert not os.path.exists(ws / "new.txt")
    assert "s1" in d.snapshots_on_disk(ws_id)
    # the daemon's namespace did not leak a mount into the host: still exactly one
    assert len(btrfs_mounts_at(d.mnt)) == 1
    d.stop()
    # the mount stays for the next start, in the host
    assert len(btrfs_mounts_at(d.mnt)) == 1


def unit_exec_start_pre(d):
    """The unit's ExecStartPre= command, "+" stripped, made runnable here: our build of
    ws-ckptd with the test config, and *this* process's mount namespace standing in for
    PID 1's (the host's; /proc/1/ns is not always readable where the tests run)."""
    line = [ln.strip() for ln in UNIT.read_text().splitlines()
            if ln.startswith("ExecStartPre=")][0]
    argv = line.split("=", 1)[1].lstrip("+").split()
    argv = [a.replace("/proc/1/", "/proc/%d/" % os.getpid()) for a in argv]
    i = argv.index("/usr/sbin/ws-ckptd")
    return argv[:i] + [str(wsck.WSCKPTD), "-f", "-c", str(d.conf), "-v"] + argv[i + 1:]


def run_like_systemd_plus(d, argv):
    """systemd gives every command of a unit with namespacing options a new mount
    namespace, a slave of the host's, "+" commands included (only their sandboxing is
    lifted). Emulated with unshare."""
    n = len(d.logfiles)
    logf = d.dir / ("daemon-%d.log" % n)
    d.logfiles.append(logf)
    p = subprocess.run(["unshare", "--mount", "--propagation", "slave", "--"] + argv,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120, cwd="/",
                       env=wsck.user_env(None))
    logf.write_text(p.stdout)
    return p


def test_unit_exec_start_pre_mounts_in_the_host_namespace(make_flex_daemon):
    """The unit's ExecStartPre= line, run the way systemd runs a "+" command of this unit,
    leaves the mount in the host's namespace; the same ws-ckptd --mount-only without the
    nsenter would mount into a namespace that dies with it."""
    d = make_flex_daemon(start=False)
    argv = unit_exec_start_pre(d)
    assert argv[0] == "/usr/bin/nsenter", argv
    p = run_like_systemd_plus(d, argv)
    assert p.returncode == 0, p.stdout
    assert len(btrfs_mounts_at(d.mnt)) == 1, p.stdout
    assert privd_pids(d) == []
    # and the daemon then serves it, in the unit-like namespace
    start_in_unit_namespace(d)
    d.cli(["version"], user=ALICE)
    d.stop()


def test_mount_only_without_nsenter_would_not_reach_the_host(make_flex_daemon):
    """Why the unit needs the nsenter: the control case."""
    d = make_flex_daemon(start=False)
    p = run_like_systemd_plus(d, [str(wsck.WSCKPTD), "-f", "-c", str(d.conf), "-v",
                                  "--mount-only"])
    assert p.returncode == 0, p.stdout
    assert "Mounted" in p.stdout, p.stdout
    assert btrfs_mounts_at(d.mnt) == [], "a mount made in a slave namespace reached the host?"


def test_no_mount_refuses_when_nothing_is_mounted(make_flex_daemon):
    d = make_flex_daemon(start=False)
    p = run_privd(d, "--no-mount")
    assert p.returncode != 0, p.stdout
    assert "is not mounted" in p.stdout and "ws-ckptd --mount-only" in p.stdout, p.stdout
    assert "ExecStartPre" in p.stdout, p.stdout
    assert wsck.mounts_under(d.dir) == []
    assert wsck.loops_backing(d.img) == []
    assert not d.img.exists(), "--no-mount must never create (format) an image"
    assert not os.path.lexists(d.mnt), "--no-mount creates no mount point either"
    assert not os.path.lexists(d.lock_file)
    assert privd_pids(d) == []


def test_no_mount_refuses_an_existing_but_unmounted_image(make_flex_daemon):
    d = make_flex_daemon(start=False)
    assert run_privd(d, "--mount-only").returncode == 0
    wsck.run(["umount", str(d.mnt)])
    for dev in wsck.loops_backing(d.img):  # autoclear normally did it already
        wsck.run(["losetup", "-d", dev], check=False)
    assert wsck.loops_backing(d.img) == []
    p = run_privd(d, "--no-mount")
    assert p.returncode != 0 and "ws-ckptd --mount-only" in p.stdout, p.stdout
    assert wsck.mounts_under(d.dir) == []
    assert wsck.loops_backing(d.img) == [], "--no-mount attached a loop device"


def test_mount_only_is_idempotent(make_flex_daemon):
    d = make_flex_daemon(start=False)
    assert run_privd(d, "--mount-only").returncode == 0
    first = btrfs_mounts_at(d.mnt)
    p = run_privd(d, "--mount-only")
    assert p.returncode == 0, p.stdout
    assert "Reusing existing mount" in p.stdout, p.stdout
    assert btrfs_mounts_at(d.mnt) == first and len(first) == 1
    assert len(wsck.loops_backing(d.img)) == 1, wsck.loop_devices()
    assert privd_pids(d) == []


def test_mount_only_keeps_a_stale_lock_for_the_daemon(make_flex_daemon):
    """An unclean shutdown is still reported (full reconcile) by the serving daemon."""
    d = make_flex_daemon(start=False)
    d.state_dir.mkdir(mode=0o700)
    d.lock_file.write_text("999999\n")
    assert run_privd(d, "--mount-only").returncode == 0
    assert os.path.exists(d.lock_file), "--mount-only removed the evidence of an unclean stop"
    d.start(extra_args=("-v", "--no-mount"))
    assert "Detected unclean shutdown" in d.last_log(), d.last_log()
    d.stop()
    assert not os.path.lexists(d.lock_file)


def test_mount_only_and_no_mount_exclude_each_other(make_flex_daemon):
    d = make_flex_daemon(start=False)
    p = run_privd(d, "--mount-only", "--no-mount")
    assert p.returncode == 2 and "exclude each other" in p.stdout, p.stdout
    assert wsck.mounts_under(d.dir) == []


@pytest.mark.parametrize("flag", ["--mount-only", "--no-mount"])
def test_help_lists_the_flag(flag):
    p = subprocess.run([str(wsck.WSCKPTD), "-h"], stdout=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0 and flag in p.stdout
