"""systemd integration: Type=notify readiness (READY=1 / STOPPING=1 over $NOTIFY_SOCKET),
socket activation (LISTEN_FDS/LISTEN_PID, the listening socket at fd 3), and
`systemd-analyze verify` of the shipped units.

Every daemon comes from the make_flex_daemon fixture, so its process, mount and loop
device are removed after the test whatever happened."""
import grp
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

import wsck

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
NOTIFY_TIMEOUT = 30


def recv_until(sock, key, timeout=NOTIFY_TIMEOUT):
    """Datagrams from sock until one has the line `key` (e.g. READY=1); returns all of them
    (decoded), or fails after timeout."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %s on the notify socket within %ss; got %r" %
                                 (key, timeout, got))
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            continue
        got.append(data.decode(errors="replace"))
        if key in got[-1].splitlines():
            return got


def stop_and_wait(d, timeout=30):
    """SIGTERM the daemon; assert it exits 0."""
    d.proc.send_signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("ws-ckptd did not exit within %ss of SIGTERM; log:\n%s" %
                             (timeout, d.log_tail()))
    assert rc == 0, "ws-ckptd exited %d after SIGTERM; log:\n%s" % (rc, d.log_tail())


# --------------------------------------------------------------------------- Type=notify

def test_notify_ready_and_stopping(make_flex_daemon):
    d = make_flex_daemon(start=False)
    path = str(d.dir / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        ns.bind(path)
        d.env_extra = {"NOTIFY_SOCKET": path}
        d.start(wait=False)
        got = recv_until(ns, "READY=1")
        assert d.running(), "ws-ckptd exited after READY=1; log:\n%s" % d.log_tail()
        # READY=1 means serving: the CLI works right now, without any polling.
        p = d.cli(["status", "--format", "json"])
        assert '"backend"' in p.stdout, p.stdout
        ws = d.make_ws(None)
        wsck.checkpoint(d, None, ws, "step-1")
        assert "step-1" in wsck.list_ids(d, None, ws)
        stop_and_wait(d)
        got = recv_until(ns, "STOPPING=1", timeout=5)
        assert any("STOPPING=1" in g.splitlines() for g in got), got
    finally:
        ns.close()


def test_no_notify_socket_is_harmless(make_flex_daemon):
    """A NOTIFY_SOCKET nobody listens on is logged and ignored."""
    d = make_flex_daemon(start=False)
    d.env_extra = {"NOTIFY_SOCKET": str(d.dir / "nobody-here.sock")}
    d.start()
    d.cli(["version"])
    stop_and_wait(d)


# --------------------------------------------------------------------------- socket activation

# Run ws-ckptd with the listening socket at fd 3 and LISTEN_PID = its own pid: exec keeps
# the pid, so the wrapper sets LISTEN_PID to its own pid and execs the daemon.
ACTIVATE = r'''
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDNAMES"] = "ws-ckpt.socket"
os.execv(sys.argv[2], sys.argv[2:])
'''


class ActivatedDaemon(wsck.FlexDaemon):
    """A FlexDaemon whose listening socket is made here, as systemd would, and passed in."""

    listen_sock = None

    def make_socket(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(str(self.sock))
        finally:
            os.umask(old)
        os.chown(str(self.sock), 0, grp.getgrnam(wsck.SOCK_GROUP).gr_gid)
        os.chmod(str(self.sock), 0o660)
        s.listen(128)
        self.listen_sock = s
        return s

    def spawn(self, extra_args=("-v",), conf=None):
        assert self.listen_sock is not None
        fd = self.listen_sock.fileno()
        n = len(self.logfiles)
        logf = self.dir / ("daemon-%d.log" % n)
        self.logfiles.append(logf)
        fh = open(logf, "wb")
        try:
            proc = subprocess.Popen(
                ["/usr/bin/python3", "-c", ACTIVATE, str(fd), str(self.wsckptd), "-f", "-c",
                 str(conf or self.conf)] + list(extra_args),
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, cwd="/",
                start_new_session=True, pass_fds=(fd,), env=wsck.user_env(None, self.env_extra))
        finally:
            fh.close()
        return proc, logf

    def cleanup(self):
        try:
            return super().cleanup()
        finally:
            if self.listen_sock is not None:
                self.listen_sock.close()


@pytest.fixture
def make_activated_daemon(env, request):
    """Like make_flex_daemon, for ActivatedDaemon (same teardown guarantees)."""
    made = []

    def factory(**kw):
        d = ActivatedDaemon(**kw)
        made.append(d)
        return d

    yield factory
    errors = []
    rep = getattr(request.node, "rep_call", None)
    for d in made:
        if rep is None or rep.failed:
            print("==== daemon log (%s) ====\n%s" % (d.dir, d.log_tail(150)))
        try:
            errors += d.cleanup()
        except Exception as e:
            errors.append("cleanup of %s raised %r" % (d.dir, e))
    assert not errors, "teardown problems: %s" % errors


def test_socket_activation(make_activated_daemon):
    d = make_activated_daemon()
    s = d.make_socket()
    ino = os.stat(str(d.sock)).st_ino
    d.start()
    assert "socket activation" in d.log, d.log_tail()
    assert d.proc.pid == int(d.lock_file.read_text().split()[0]), "LISTEN_PID is not the daemon"
    # the daemon used our socket, not one of its own at the same path
    assert os.stat(str(d.sock)).st_ino == ino
    st = os.stat(str(d.sock))
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == grp.getgrnam(wsck.SOCK_GROUP).gr_gid
    ws = d.make_ws(None)
    ws_id = wsck.init_ws(d, None, ws)
    wsck.checkpoint(d, None, ws, "step-1")
    assert wsck.list_ids(d, None, ws) == ["step-1"]
    assert ws_id in wsck.ws_ids_in_status(wsck.status_json(d))
    # the variables are not passed on: frontd and workers do not see LISTEN_*
    fp = d.find_frontd()
    assert fp
    d.frontd_pids.add(fp)
    try:
        environ = Path("/proc/%d/environ" % fp).read_bytes().split(b"\0")
        assert not [e for e in environ if e.startswith(b"LISTEN_")], environ
    except PermissionError:
        pass
    d.stop()
    # systemd owns the socket: the daemon must leave the file (and it still listens)
    assert os.path.lexists(str(d.sock)), "ws-ckptd removed the socket systemd owns"
    assert stat.S_ISSOCK(os.lstat(str(d.sock)).st_mode)
    assert os.stat(str(d.sock)).st_ino == ino
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(str(d.sock))   # queued in our backlog, as systemd would hold it
    finally:
        c.close()
    # and a second start on the same socket works (systemd restarting the service)
    d.start()
    assert wsck.list_ids(d, None, ws) == ["step-1"]
    d.stop()
    assert os.path.lexists(str(d.sock))
    s.close()


def test_socket_activation_for_another_pid_is_ignored(make_flex_daemon):
    """LISTEN_PID of another process: the variables are not for us; the daemon creates its
    own socket as usual."""
    d = make_flex_daemon(start=False)
    d.env_extra = {"LISTEN_FDS": "1", "LISTEN_PID": "1"}
    d.start()
    assert "socket activation" not in d.log
    d.cli(["version"])
    d.stop()
    assert not os.path.lexists(str(d.sock)), "the daemon's own socket is removed at stop"


# --------------------------------------------------------------------------- unit files

def verify_copy(tmp_path):
    """Copies of both units with ExecStart pointing to an existing binary."""
    daemon = shutil.which("true") or "/bin/true"
    for name in ("ws-ckpt.service", "ws-ckpt.socket"):
        text = (UNITS / name).read_text()
        text = re.sub(r"^ExecStart=/usr/sbin/ws-ckptd", "ExecStart=%s" % daemon, text, flags=re.M)
        (tmp_path / name).write_text(text)
    return [tmp_path / "ws-ckpt.service", tmp_path / "ws-ckpt.socket"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing")
def test_systemd_analyze_verify(tmp_path):
    units = verify_copy(tmp_path)
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="warning")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + [str(u) for u in units],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                       env=env, cwd=str(tmp_path))
    # Lines about other units on the host (or the missing system bus in a container) are
    # not ours; anything naming our units is a failure.
    ours = [ln for ln in p.stdout.splitlines() if "ws-ckpt" in ln]
    assert p.returncode == 0 and not ours, p.stdout


def test_socket_unit_matches_service():
    sock = (UNITS / "ws-ckpt.socket").read_text()
    svc = (UNITS / "ws-ckpt.service").read_text()
    active = lambda t: [ln.strip() for ln in t.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "[Install]" in active(sock) and "WantedBy=sockets.target" in active(sock)
    assert "ListenStream=/run/ws-ckpt/ws-ckpt.sock" in active(sock)
    assert "SocketMode=0660" in active(sock) and "SocketGroup=ws-ckpt" in active(sock)
    # stopping the service must not remove /run/ws-ckpt, where systemd holds the socket
    assert "RuntimeDirectoryPreserve=yes" in active(svc)
    assert "Type=notify" in active(svc)


def test_graceful_stop_finishes_inflight_init(daemon):
    """SIGTERM while an init copy runs: that client gets its real result; a request that
    arrives during the drain gets a retryable Busy; then the daemon exits 0 and the
    workspace is complete."""
    d = daemon
    ws = d.make_ws(wsck.ALICE, {})
    wsck.run(["runuser", "-u", wsck.ALICE, "--", "sh", "-c",
              "for i in $(seq 1 200); do head -c 1048576 /dev/urandom > %s/f$i; done" % ws])
    init = subprocess.Popen(["runuser", "-u", wsck.ALICE, "--", "env",
                             "WS_CKPT_SOCKET=%s" % d.sock, str(wsck.BUILD / "ws-ckpt"),
                             "init", "-w", str(ws)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd="/")
    wsck.wait_until(lambda: "init of %s" % ws in d.log, 10)
    os.kill(d.pid, signal.SIGTERM)
    busy = d.raw({"v": 1, "id": 1, "op": "version"}, user=wsck.ALICE)
    out, err = init.communicate(timeout=60)
    assert init.returncode == 0, err
    assert "Workspace initialized" in out
    assert busy.get("ok") is True or busy["error"]["code"] == "Busy", busy
    assert d.proc.wait(timeout=30) == 0
    assert os.path.islink(ws) and len(os.listdir(ws)) == 200
