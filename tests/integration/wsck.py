"""Helpers for the ws-ckpt integration tests: test users, a real daemon on a loop btrfs
image in a temp dir, the CLI and raw protocol clients, and leak-proof teardown.

Stdlib only. This file is also run as a script by unprivileged test users
(`python3 -B wsck.py rawclient`) to talk to the socket with their own credentials.
"""
import base64
import errno
import grp
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "build"
WSCKPTD = BUILD / "ws-ckptd"
FRONTD = BUILD / "ws-ckpt-frontd"
CLI = BUILD / "ws-ckpt"

SYS_USER = "ws-ckpt"
SOCK_GROUP = "ws-ckpt"
ALICE = "wsck-alice"
BOB = "wsck-bob"
EVE = "wsck-eve"
ADMIN_GROUP = "wsck-admins"
TEST_USERS = (ALICE, BOB, EVE)
TMP_PREFIX = "wsck-"

WS_ID_RE = re.compile(r"\bws-[0-9a-f]{6}\b")
# PROTOCOL.md: auto-<UTC yyyymmddThhmmss>-<n>; the strict form is checked in one test only
AUTO_ID_RE = re.compile(r"\bauto-\d{8}T\d{6}(-\d+)?\b")
AUTO_ID_STRICT_RE = re.compile(r"auto-\d{8}T\d{6}(-\d+)?")

READY_TIMEOUT = 30
OWNER_FILE = ".owner-pid"
CMD_TIMEOUT = 60


# --------------------------------------------------------------------------- utilities

def run(argv, check=True, timeout=CMD_TIMEOUT, **kw):
    """Run a root command, capture text output."""
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (argv, p.returncode, p.stdout, p.stderr))
    return p


def rand_name(n=8):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def user_info(name):
    pw = pwd.getpwnam(name)
    return pw


def user_groups(name):
    pw = pwd.getpwnam(name)
    return os.getgrouplist(name, pw.pw_gid)


def user_env(name, extra=None):
    pw = pwd.getpwnam(name) if name else pwd.getpwuid(0)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": pw.pw_dir,
        "USER": pw.pw_name,
        "LOGNAME": pw.pw_name,
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    if extra:
        env.update(extra)
    return env


def run_as(user, argv, input=None, cwd="/", env=None, timeout=CMD_TIMEOUT, stdin=None,
           text=True):
    """Run argv as `user` (None: root) with that user's full group list (like runuser)."""
    kw = {}
    if user is not None:
        pw = pwd.getpwnam(user)
        kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=user_groups(user))
    if input is None and stdin is None:
        stdin = subprocess.DEVNULL
    return subprocess.run([str(a) for a in argv], input=input, stdin=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text,
                          cwd=cwd, env=env if env is not None else user_env(user),
                          timeout=timeout, **kw)


def write_as(user, path, content):
    """Write a file as `user` (so ownership and permission checks are the user's own)."""
    p = run_as(user, ["/bin/sh", "-c", 'printf "%s" "$1" > "$2"', "sh", content, str(path)])
    if p.returncode != 0:
        raise AssertionError("write_as %s %s failed: %s" % (user, path, p.stderr))


def read_text(path):
    with open(path, "r") as f:
        return f.read()


def mounts():
    """[(source, mountpoint, fstype)] from /proc/mounts (octal escapes decoded)."""
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            dec = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
            out.append((dec(parts[0]), dec(parts[1]), parts[2]))
    return out


def mounts_under(prefix):
    prefix = str(prefix).rstrip("/")
    return [m for m in mounts() if m[1] == prefix or m[1].startswith(prefix + "/")]


def mount_count(path):
    return sum(1 for m in mounts() if m[1] == str(path))


def umount_all_under(prefix, errors):
    """Unmount everything at or below prefix, deepest first; lazy unmount as fallback."""
    for _ in range(20):
        ms = mounts_under(prefix)
        if not ms:
            return True
        target = max((m[1] for m in ms), key=len)
        p = run(["umount", target], check=False)
        if p.returncode != 0:
            p2 = run(["umount", "-l", target], check=False)
            if p2.returncode != 0:
                errors.append("cannot unmount %s: %s / %s" % (target, p.stderr, p2.stderr))
                return False
    return not mounts_under(prefix)


def loop_devices():
    """[(device, backing_file)] of every attached loop device."""
    p = run(["losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE"], check=False)
    out = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            back = parts[1].replace("\\x20", " ")
            if back.endswith(" (deleted)"):
                back = back[: -len(" (deleted)")]
            out.append((parts[0], back))
    return out


def loops_backing(img):
    img = str(img)
    return [d for d, b in loop_devices() if b == img]


def detach_loops(pred, errors):
    for dev, back in loop_devices():
        if not pred(back):
            continue
        for _src, mp, _t in [m for m in mounts() if m[0] == dev]:
            umount_all_under(mp, errors)
        p = run(["losetup", "-d", dev], check=False)
        if p.returncode != 0 and "No such device" not in p.stderr:
            # autoclear may have raced us; re-check
            if any(d == dev for d, _ in loop_devices()):
                errors.append("cannot detach %s (%s): %s" % (dev, back, p.stderr))


def proc_status(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_status(pid)
    return st is not None and not st.get("State", "").startswith("Z")


def proc_exe(pid):
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    if exe.endswith(" (deleted)"):
        exe = exe[: -len(" (deleted)")]
    return exe


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children_of(ppid):
    out = []
    for pid in all_pids():
        st = proc_status(pid)
        if st and st.get("PPid") == str(ppid):
            out.append(pid)
    return out


def unix_socket_inodes(path_prefix):
    """Inodes of unix sockets bound to a path under path_prefix (from /proc/net/unix)."""
    inodes = set()
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7].startswith(path_prefix):
                    inodes.add(parts[6])
    except OSError:
        pass
    return inodes


def proc_refs_dir(pid, d, sock_inodes):
    """Does process pid reference temp dir d (cmdline, cwd, fds, our socket)?"""
    d = str(d)
    if any(d.encode() in a for a in proc_cmdline(pid)):
        return True
    for link in ("cwd", "root"):
        try:
            t = os.readlink("/proc/%d/%s" % (pid, link))
            if t == d or t.startswith(d + "/"):
                return True
        except OSError:
            pass
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith(d + "/"):
            return True
        m = re.match(r"socket:\[(\d+)\]", t)
        if m and m.group(1) in sock_inodes:
            return True
    return False


def our_binary_pids(d):
    """Pids of ws-ckptd / ws-ckpt-frontd processes that belong to temp dir d."""
    exes = {str(WSCKPTD), str(FRONTD)}
    inodes = unix_socket_inodes(str(d) + "/")
    out = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        if proc_exe(pid) in exes and proc_alive(pid) and proc_refs_dir(pid, d, inodes):
            out.append(pid)
    return out


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def is_subvolume(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_ino == 256


def subvol_readonly(path):
    p = run(["btrfs", "property", "get", "-ts", str(path), "ro"], check=False)
    return p.stdout.strip() == "ro=true"


# --------------------------------------------------------------------------- raw protocol

def raw_exchange(sock_path, payload, nreplies=1, timeout=20.0, chunk=65536):
    """Connect to sock_path, send payload bytes, read until nreplies final reply lines
    (lines with "ok"), EOF, or timeout. Returns a JSON-serialisable dict."""
    res = {"connect_errno": None, "send_error": None, "replies": [], "progress": 0,
           "closed": False, "timeout": False, "recv_error": None, "junk": []}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
    except OSError as e:
        res["connect_errno"] = e.errno
        s.close()
        return res
    buf = b""
    try:
        try:
            view = memoryview(payload)
            while view:
                n = s.send(view[:chunk])
                view = view[n:]
        except (BrokenPipeError, ConnectionResetError) as e:
            res["send_error"] = e.errno
        except socket.timeout:
            res["send_error"] = "timeout"
        deadline = time.monotonic() + timeout
        while len(res["replies"]) < nreplies:
            left = deadline - time.monotonic()
            if left <= 0:
                res["timeout"] = True
                break
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except socket.timeout:
                res["timeout"] = True
                break
            except ConnectionResetError as e:
                res["recv_error"] = e.errno
                res["closed"] = True
                break
            if not data:
                res["closed"] = True
                break
            buf += data
            while b"\n" in buf and len(res["replies"]) < nreplies:
                line, buf = buf.split(b"\n", 1)
                try:
                    obj = json.loads(line)
                except ValueError:
                    res["junk"].append(line.decode("utf-8", "replace"))
                    continue
                if isinstance(obj, dict) and "progress" in obj and "ok" not in obj:
                    res["progress"] += 1
                    continue
                res["replies"].append(obj)
    finally:
        s.close()
    return res


def encode_request(obj):
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    return (json.dumps(obj) + "\n").encode()


def _rawclient_main():
    req = json.loads(sys.stdin.read())
    res = raw_exchange(req["sock"], base64.b64decode(req["payload"]), req["nreplies"],
                       req["timeout"])
    sys.stdout.write(json.dumps(res))


# --------------------------------------------------------------------------- daemon

def replay_journal(idx, path):
    """Apply an index journal's complete, valid lines to the index dict idx."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return idx
    seq = idx.get("journal_seq", 0)
    snaps = idx.setdefault("snapshots", {})
    for line in text.split("\n")[:-1]:  # the part after the last newline is torn
        try:
            rec = json.loads(line)
        except ValueError:
            break
        if rec["seq"] <= seq:
            continue
        for sid in rec["del"]:
            snaps.pop(sid, None)
        snaps.update(rec["put"])
        if rec["head"]:
            idx["head"] = rec["head"]
        else:
            idx.pop("head", None)
        if rec["pending_delete"]:
            idx["pending_delete"] = rec["pending_delete"]
        else:
            idx.pop("pending_delete", None)
        for key in ("rollback_intent", "creating"):  # each line has them whole, or not
            if rec.get(key):
                idx[key] = rec[key]
            else:
                idx.pop(key, None)
        seq = idx["journal_seq"] = rec["seq"]
    return idx


class Daemon:
    """A real ws-ckptd on a loop btrfs image inside a private temp dir."""

    def __init__(self, admin_group=None, extra_conf="", img_size=1, tmpdir=None):
        self.dir = Path(tmpdir or tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp"))
        os.chmod(self.dir, 0o755)
        # which pytest session owns this dir (the session-end safety net spares live ones)
        (self.dir / OWNER_FILE).write_text("%d\n" % os.getpid())
        self.conf = self.dir / "ws-ckpt.toml"
        self.sock = self.dir / "ws.sock"
        self.state_dir = self.dir / "state"
        self.mnt = self.dir / "mnt"
        self.img = self.state_dir / "btrfs-data.img"
        self.admin_group = admin_group
        self.proc = None
        self.frontd_pids = set()
        self.logfiles = []
        self.paths = []          # user workspace paths to remove at cleanup
        self.extra_mounts = []   # mounts made by tests (removed first)
        self.cleaned = False
        self.extra_conf = extra_conf
        self.img_size = img_size
        self.write_config()

    # ---- config / files
    def write_config(self, admin_group=None, extra_conf=None, img_size=None):
        """(Re)write the config from self.img and friends; a setting given here replaces
        the one the daemon was made with, one not given stays."""
        if admin_group is not None:
            self.admin_group = admin_group
        if extra_conf is not None:
            self.extra_conf = extra_conf
        if img_size is not None:
            self.img_size = img_size
        admin_group, extra_conf, img_size = self.admin_group, self.extra_conf, self.img_size
        lines = [
            'socket_path = "%s"' % self.sock,
            'socket_group = "%s"' % SOCK_GROUP,
            'state_dir = "%s"' % self.state_dir,
            'frontd_user = "%s"' % SYS_USER,
        ]
        if admin_group:
            lines.append('admin_group = "%s"' % admin_group)
        if extra_conf:
            lines.append(extra_conf)
        lines += [
            "",
            "[backend]",
            'type = "btrfs-loop"',
            "",
            "[backend.btrfs-loop]",
            'img_path = "%s"' % self.img,
            "img_size = %d" % img_size,
            'mount_path = "%s"' % self.mnt,
            "",
        ]
        self.conf.write_text("\n".join(lines))

    @property
    def state_file(self):
        return self.state_dir / "state.json"

    @property
    def lock_file(self):
        return self.state_dir / "daemon.lock"

    def state(self):
        return json.loads(self.state_file.read_text())

    def index_file(self, ws_id):
        return self.state_dir / "indexes" / ws_id / "index.json"

    def index(self, ws_id):
        """The index as privd would load it: index.json plus the records of its journal
        newer than its journal_seq (see privd/index_journal.c), replayed here
        independently of the C code."""
        idx = json.loads(self.index_file(ws_id).read_text())
        return replay_journal(idx, self.index_file(ws_id).parent / "index.journal")

    def index_json_only(self, ws_id):
        return json.loads(self.index_file(ws_id).read_text())

    def ws_id_of(self, path):
        path = str(path).rstrip("/")
        for w in self.state().get("workspaces", []):
            if w.get("workspace_path") == path:
                return w["ws_id"]
        raise AssertionError("no workspace registered for %s in state.json: %s" %
                             (path, self.state_file.read_text()))

    def live_dir(self, ws_id):
        return self.mnt / ws_id

    def snap_root(self, ws_id):
        return self.mnt / "snapshots" / ws_id

    def snap_dir(self, ws_id, snap):
        return self.snap_root(ws_id) / snap

    def snapshots_on_disk(self, ws_id):
        d = self.snap_root(ws_id)
        if not d.is_dir():
            return set()
        return {n for n in os.listdir(d) if is_subvolume(d / n)}

    def tree(self, root=None, maxdepth=3):
        """Set of relative paths under root (default: the mount), for 'nothing changed'."""
        root = Path(root or self.mnt)
        out = set()
        base = len(str(root).rstrip("/").split("/"))
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            depth = len(dirpath.rstrip("/").split("/")) - base
            for n in dirnames + filenames:
                out.add(os.path.relpath(os.path.join(dirpath, n), root))
            if depth + 1 >= maxdepth:
                dirnames[:] = []
        return out

    # ---- logs
    @property
    def log(self):
        out = []
        for f in self.logfiles:
            try:
                out.append(Path(f).read_text(errors="replace"))
            except OSError:
                pass
        return "".join(out)

    def log_tail(self, n=60):
        return "\n".join(self.log.splitlines()[-n:])

    # ---- lifecycle
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, extra_args=("-v",), conf=None):
        n = len(self.logfiles)
        logf = self.dir / ("daemon-%d.log" % n)
        self.logfiles.append(logf)
        fh = open(logf, "wb")
        try:
            proc = subprocess.Popen([str(WSCKPTD), "-f", "-c", str(conf or self.conf)] +
                                    list(extra_args),
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                    cwd="/", start_new_session=True,
                                    env=user_env(None))
        finally:
            fh.close()
        return proc, logf

    def start(self, wait=True, extra_args=("-v",)):
        assert not self.running(), "daemon already running"
        self.proc, _ = self.spawn(extra_args)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("ws-ckptd exited with %s during startup; log:\n%s" %
                                     (self.proc.returncode, self.log_tail(200)))
            if self.sock.exists() and stat.S_ISSOCK(os.lstat(self.sock).st_mode):
                res = raw_exchange(str(self.sock), encode_request(
                    {"v": 1, "id": 0, "op": "version"}), timeout=5)
                # the answer must come from a frontd of *this* privd, not from an orphaned
                # frontd of a killed daemon still holding the old listening socket
                if res["replies"] and res["replies"][0].get("ok") and self.find_frontd():
                    break
            if time.monotonic() >= deadline:
                raise AssertionError("ws-ckptd not ready after %ss (socket %s); log:\n%s" %
                                     (timeout, self.sock, self.log_tail(200)))
            time.sleep(0.05)
        fp = self.find_frontd()
        if fp:
            self.frontd_pids.add(fp)
        return self

    def find_frontd(self):
        """Pid of the ws-ckpt-frontd child of the running privd (or None)."""
        if not self.running():
            return None
        # a child, or a grandchild when privd spawns frontd through a launcher process
        level = [self.proc.pid]
        for _depth in range(3):
            kids = [k for p in level for k in children_of(p)]
            for pid in kids:
                st = proc_status(pid)
                if st and proc_alive(pid) and (proc_exe(pid) == str(FRONTD) or
                                               st.get("Name") == "ws-ckpt-frontd"):
                    return pid
            level = kids
        return None

    def stop(self, timeout=30):
        """SIGTERM, wait, assert clean exit 0 and that frontd went away too."""
        assert self.running(), "daemon not running (rc=%s); log:\n%s" % (
            self.proc and self.proc.returncode, self.log_tail())
        fpids = set(self.frontd_pids)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ws-ckptd did not exit within %ss of SIGTERM; log:\n%s" %
                                 (timeout, self.log_tail()))
        assert rc == 0, "ws-ckptd exited %d after SIGTERM; log:\n%s" % (rc, self.log_tail())
        left = wait_until(lambda: not [p for p in fpids if proc_alive(p)], 10)
        assert left, "ws-ckpt-frontd %s still alive after privd stopped" % fpids
        return rc

    def kill9(self):
        assert self.running()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    # ---- clients
    def cli(self, args, user=None, check=0, cwd="/", input=None, env_extra=None,
            timeout=CMD_TIMEOUT, socket_env=True):
        env = user_env(user, {"WS_CKPT_SOCKET": str(self.sock)} if socket_env else None)
        if env_extra:
            env.update(env_extra)
        try:
            p = run_as(user, [str(CLI)] + [str(a) for a in args], input=input, cwd=cwd, env=env,
                       timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("ws-ckpt %s (as %s) timed out; daemon log:\n%s" %
                                 (args, user or "root", self.log_tail()))
        if check is not None and p.returncode != check:
            raise AssertionError(
                "ws-ckpt %s (as %s, cwd %s): exit %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s"
                "\n--- daemon log tail:\n%s" % (args, user or "root", cwd, p.returncode, check,
                                                p.stdout, p.stderr, self.log_tail()))
        return p

    def raw_session(self, payload, user=None, nreplies=1, timeout=20.0):
        """Send raw bytes (or a request dict / list of dicts) as user; return the result dict."""
        if isinstance(payload, list):
            payload = b"".join(encode_request(o) for o in payload)
        else:
            payload = encode_request(payload)
        if user is None:
            return raw_exchange(str(self.sock), payload, nreplies, timeout)
        req = json.dumps({"sock": str(self.sock), "payload": base64.b64encode(payload).decode(),
                          "nreplies": nreplies, "timeout": timeout})
        p = run_as(user, ["/usr/bin/python3", "-B", str(HERE / "wsck.py"), "rawclient"],
                   input=req, timeout=timeout + 30)
        if p.returncode != 0:
            raise AssertionError("raw client as %s failed: %s" % (user, p.stderr))
        return json.loads(p.stdout)

    def raw(self, obj, user=None, timeout=20.0):
        """One request, one final reply (dict)."""
        res = self.raw_session(obj, user=user, nreplies=1, timeout=timeout)
        if res["connect_errno"] is not None:
            raise AssertionError("connect as %s failed: %s" %
                                 (user or "root", os.strerror(res["connect_errno"])))
        if not res["replies"]:
            raise AssertionError("no reply to %r as %s: %s; daemon log:\n%s" %
                                 (obj, user or "root", res, self.log_tail()))
        return res["replies"][0]

    # ---- user workspaces
    def make_ws(self, user, files=None, name=None, empty=False):
        """A directory owned by user under their home, with some files."""
        pw = pwd.getpwnam(user) if user else pwd.getpwuid(0)
        home = Path(pw.pw_dir) if user else self.dir / "roothome"
        home.mkdir(exist_ok=True)
        path = home / (name or ("ws-" + rand_name()))
        os.mkdir(path, 0o755)
        self.paths.append(path)
        if files is None and not empty:
            files = {"hello.txt": "hello\n"}
        for rel, content in (files or {}).items():
            fp = path / rel
            fp.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            fp.write_bytes(data)
        for dirpath, dirnames, filenames in os.walk(path):
            for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                os.lchown(n, pw.pw_uid, pw.pw_gid)
        return path

    def track(self, path):
        self.paths.append(Path(path))
        return Path(path)

    # ---- teardown
    def cleanup(self):
        """Always safe to call; never rm -rf through a live mount."""
        if self.cleaned:
            return []
        self.cleaned = True
        errors = []
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # stray frontd / workers of this test
        for pid in set(self.frontd_pids) | set(our_binary_pids(self.dir)):
            if proc_alive(pid) and proc_exe(pid) in (str(WSCKPTD), str(FRONTD)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        wait_until(lambda: not [p for p in our_binary_pids(self.dir)], 5)
        # mounts made by tests, then user workspace paths
        for m in reversed(self.extra_mounts):
            umount_all_under(m, errors)
        for p in self.paths:
            try:
                if os.path.islink(p):
                    os.unlink(p)
                elif os.path.isdir(p):
                    if umount_all_under(p, errors):
                        shutil.rmtree(p)
                elif os.path.lexists(p):
                    os.unlink(p)
            except OSError as e:
                errors.append("cannot remove %s: %s" % (p, e))
        # the btrfs mount and its loop device
        mounted_ok = umount_all_under(self.dir, errors)
        if self.img.exists():
            for dev in loops_backing(self.img):
                run(["losetup", "-d", dev], check=False)
        detach_loops(lambda b: b.startswith(str(self.dir) + "/"), errors)
        if mounted_ok and not mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            errors.append("left %s in place: still mounted: %s" % (self.dir,
                                                                 mounts_under(self.dir)))
        return errors


def files_of(root):
    """{relative path: text} of every file under root."""
    out = {}
    for dp, _dirs, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            out[os.path.relpath(p, root)] = read_text(p)
    return out


def set_files(ws, files, user=ALICE):
    """Make ws hold exactly files ({relative path: text}), writing as user."""
    for n in list(files_of(ws)):
        assert run_as(user, ["rm", "-f", str(ws / n)]).returncode == 0
    for n, c in files.items():
        if "/" in n:
            assert run_as(user, ["mkdir", "-p", str((ws / n).parent)]).returncode == 0
        write_as(user, ws / n, c)


# --------------------------------------------------------------------------- CLI shortcuts

def init_ws(d, user, path):
    """ws-ckpt init as user; returns the ws_id (checked against state.json)."""
    p = d.cli(["init", "-w", path], user=user)
    ws_id = d.ws_id_of(path)
    assert ws_id in p.stdout, "init output lacks %s: %r" % (ws_id, p.stdout)
    return ws_id


def checkpoint(d, user, ws, snap, *extra):
    p = d.cli(["checkpoint", "-w", ws, "-i", snap] + list(extra), user=user)
    assert "Checkpoint created" in p.stdout and snap in p.stdout, p.stdout + p.stderr
    return p


def list_json(d, user=None, ws=None):
    args = ["list", "--format", "json"] + (["-w", ws] if ws is not None else [])
    p = d.cli(args, user=user)
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError("list --format json printed non-JSON: %r" % p.stdout)


def list_ids(d, user=None, ws=None):
    return [e["id"] for e in list_json(d, user, ws)]


def status_json(d, user=None, ws=None):
    args = ["status", "--format", "json"] + (["-w", ws] if ws is not None else [])
    p = d.cli(args, user=user)
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError("status --format json printed non-JSON: %r" % p.stdout)


def ws_ids_in_status(st):
    return {w["ws_id"] for w in st.get("workspaces", [])}


def err_code(reply):
    assert reply.get("ok") is False, "expected an error reply, got %r" % (reply,)
    return reply.get("error", {}).get("code")


# --------------------------------------------------------------------------- users

def _ensure_group(name, system=False):
    try:
        grp.getgrnam(name)
    except KeyError:
        run(["groupadd"] + (["--system"] if system else []) + [name])


def _in_group(user, group):
    g = grp.getgrnam(group)
    return user in g.gr_mem or pwd.getpwnam(user).pw_gid == g.gr_gid


def setup_users():
    _ensure_group(SOCK_GROUP, system=True)
    try:
        pwd.getpwnam(SYS_USER)
    except KeyError:
        run(["useradd", "--system", "-g", SOCK_GROUP, "-d", "/nonexistent",
             "-s", "/usr/sbin/nologin", SYS_USER])
    _ensure_group(ADMIN_GROUP)
    for u in TEST_USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            run(["useradd", "-m", "-s", "/bin/sh", u])
        home = pwd.getpwnam(u).pw_dir
        os.makedirs(home, exist_ok=True)
        pw = pwd.getpwnam(u)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o755)
    for u in (ALICE, BOB):
        if not _in_group(u, SOCK_GROUP):
            run(["gpasswd", "-a", u, SOCK_GROUP])
    if _in_group(EVE, SOCK_GROUP):
        run(["gpasswd", "-d", EVE, SOCK_GROUP])
    if not _in_group(BOB, ADMIN_GROUP):
        run(["gpasswd", "-a", BOB, ADMIN_GROUP])
    for u in (ALICE, EVE):
        if _in_group(u, ADMIN_GROUP):
            run(["gpasswd", "-d", u, ADMIN_GROUP])


def teardown_users():
    errors = []
    for u in TEST_USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            continue
        p = run(["userdel", "-r", u], check=False)
        if p.returncode not in (0, 12):  # 12: home dir could not be removed
            errors.append("userdel %s: %s" % (u, p.stderr))
    try:
        grp.getgrnam(ADMIN_GROUP)
        run(["groupdel", ADMIN_GROUP], check=False)
    except KeyError:
        pass
    return errors


def safety_net():
    """Detach loop devices backed by /tmp/wsck-* images and unmount /tmp/wsck-* mounts,
    except those of a temp dir a live process still names on its command line."""
    errors = []
    live = set()
    for pid in all_pids():
        for a in proc_cmdline(pid):
            m = re.match(rb"(/tmp/%s[^/]+)" % TMP_PREFIX.encode(), a)
            if m:
                live.add(m.group(1).decode())

    def ours(path):
        if not path.startswith("/tmp/" + TMP_PREFIX):
            return False
        top = "/".join(path.split("/")[:3])
        if top in live:
            return False
        try:
            owner = int(Path(top, OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            return True
        # another pytest session that is still running cleans up after itself
        return owner == os.getpid() or not proc_alive(owner)

    for _src, mp, _t in sorted(mounts(), key=lambda m: -len(m[1])):
        if ours(mp):
            umount_all_under(mp, errors)
    detach_loops(ours, errors)
    return errors


# --------------------------------------------------------------------------- rollback reader

VERSION_FILES = ("a.txt", "b.txt", "big.bin")


def version_files(tag):
    """Files of a workspace version: every file names the same tag."""
    return {"a.txt": tag + "\n", "b.txt": tag + "\n", "big.bin": (tag + ":") * 40000,
            "only-" + tag: tag + "\n"}


def _reader_main(ws, stop, mode):
    """Loop on the workspace path until the stop file appears; report what was seen.
    strict: open the directory once per iteration and read every file relative to it; the
            listing and all files must be one single version.
    path:   the path must always resolve; each file read via the full path must hold a
            complete version (a vanished file is retried once through the path)."""
    stats = {"iters": 0, "seen": {}, "errors": [], "nerrors": 0, "retries": 0}

    def err(kind, detail):
        stats["nerrors"] += 1
        if len(stats["errors"]) < 20:
            stats["errors"].append([kind, detail, stats["iters"]])

    def read_at(dirfd, name):
        fd = os.open(name, os.O_RDONLY, dir_fd=dirfd)
        try:
            chunks = []
            while True:
                c = os.read(fd, 1 << 20)
                if not c:
                    break
                chunks.append(c)
            return b"".join(chunks).decode()
        finally:
            os.close(fd)

    ready = False
    while not os.path.exists(stop):
        stats["iters"] += 1
        if mode == "strict":
            try:
                dfd = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
            except OSError as e:
                err("open-ws", "%s" % e)
                continue
            try:
                names = sorted(os.listdir(dfd))
                a = read_at(dfd, "a.txt")
                tag = a.strip()
                exp = version_files(tag)
                if names != sorted(exp):
                    err("mixed-listing", "%s vs tag %r" % (names, tag))
                for n in VERSION_FILES:
                    got = read_at(dfd, n) if n != "a.txt" else a
                    if got != exp[n]:
                        err("mixed-content", "%s (tag %r): %r" % (n, tag, got[:40]))
                stats["seen"][tag] = stats["seen"].get(tag, 0) + 1
            except OSError as e:
                err("read", "%s" % e)
            finally:
                os.close(dfd)
        else:
            try:
                os.stat(ws)
            except OSError as e:
                err("stat-ws", "%s" % e)
                continue
            for n in ("a.txt", "big.bin"):
                got = None
                for attempt in (0, 1):
                    try:
                        got = read_at(None, os.path.join(ws, n))
                        break
                    except FileNotFoundError as e:
                        if attempt:
                            err("vanished", "%s: %s" % (n, e))
                        else:
                            stats["retries"] += 1
                    except OSError as e:
                        err("read", "%s: %s" % (n, e))
                        break
                if got is None:
                    continue
                tag = got.split(":")[0].strip() if n == "big.bin" else got.strip()
                if got != version_files(tag).get(n):
                    err("partial", "%s: %r" % (n, got[:40]))
                else:
                    stats["seen"][tag] = stats["seen"].get(tag, 0) + 1
        if not ready:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            ready = True
    sys.stdout.write(json.dumps(stats) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rawclient":
        _rawclient_main()
    elif len(sys.argv) == 5 and sys.argv[1] == "reader":
        _reader_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: wsck.py rawclient < request.json | wsck.py reader WS STOPFILE MODE")


# --------------------------------------------------------------------------- appended: build choice
# Added for test_persistence.py / test_crash.py. Nothing above changes: Daemon keeps using
# build/ and the plain environment. FlexDaemon can switch, per start, to the test build
# (`make testbins`: the same binaries with named crash points, WSCKPT_CRASH_AT=<name>) and
# pass extra environment to ws-ckptd.
TEST_BUILD = BUILD / "test"


def binary_pids(d, bin_dirs):
    """Pids of ws-ckptd / ws-ckpt-frontd (and privd's workers) from any of bin_dirs that
    belong to temp dir d."""
    exes = set()
    for b in bin_dirs:
        exes |= {str(Path(b) / "ws-ckptd"), str(Path(b) / "ws-ckpt-frontd")}
    inodes = unix_socket_inodes(str(d) + "/")
    return [pid for pid in all_pids() if pid != os.getpid() and proc_exe(pid) in exes and
            proc_alive(pid) and proc_refs_dir(pid, d, inodes)]


class FlexDaemon(Daemon):
    """Daemon whose binary directory and extra environment may change between starts:
    d.bin_dir = wsck.TEST_BUILD; d.env_extra = {"WSCKPT_CRASH_AT": "checkpoint.indexed"}."""

    def __init__(self, bin_dir=None, env_extra=None, **kw):
        super().__init__(**kw)
        self.bin_dir = Path(bin_dir or BUILD)
        self.env_extra = dict(env_extra or {})
        self.wrapper = []  # e.g. ["valgrind", ...]: run privd under it

    @property
    def wsckptd(self):
        return self.bin_dir / "ws-ckptd"

    def spawn(self, extra_args=("-v",), conf=None):
        n = len(self.logfiles)
        logf = self.dir / ("daemon-%d.log" % n)
        self.logfiles.append(logf)
        fh = open(logf, "wb")
        try:
            proc = subprocess.Popen(list(self.wrapper) +
                                    [str(self.wsckptd), "-f", "-c", str(conf or self.conf)] +
                                    list(extra_args),
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                    cwd="/", start_new_session=True,
                                    env=user_env(None, self.env_extra))
        finally:
            fh.close()
        return proc, logf

    def last_log(self):
        """Log of the most recent start only."""
        if not self.logfiles:
            return ""
        try:
            return Path(self.logfiles[-1]).read_text(errors="replace")
        except OSError:
            return ""

    def wait_exit(self, timeout=30):
        """Wait for privd to exit on its own; returns its exit status or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def crash_during(self, point, argv, user):
        """Restart with the test build stopping at crash point `point`, run the CLI
        command (it must fail: privd exits there) and wait for privd's exit; the next
        start() runs the release build again. Returns the command's result."""
        self.stop()
        self.bin_dir = TEST_BUILD
        self.env_extra = {"WSCKPT_CRASH_AT": point}
        self.start()
        p = self.cli(argv, user=user, check=None)
        assert p.returncode != 0, p.stdout
        assert self.wait_exit(30) is not None, "privd did not stop at " + point
        self.env_extra = {}
        self.bin_dir = BUILD
        return p

    def cleanup(self):
        if not self.cleaned:
            if self.running():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            for pid in binary_pids(self.dir, (BUILD, TEST_BUILD)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_until(lambda: not binary_pids(self.dir, (BUILD, TEST_BUILD)), 5)
        return super().cleanup()
