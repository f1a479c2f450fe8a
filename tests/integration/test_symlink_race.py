"""Symlink races against init, rollback and recover (SECURITY.md, "Paths and symlinks").

An attacker (the workspace owner alice, or bob on his own directory) keeps swapping the
workspace directory, or a parent directory component, for symlinks to places she must not
affect: a root-owned sentinel directory /tmp/wsck-sentinel-XXXX and the other user's home.
The swaps are atomic renameat2(RENAME_EXCHANGE) calls made as the attacker, racing the
CLI requests. Refusals and errors are expected; afterwards nothing outside the attacker's
own directories may have been read into ws-ckpt's storage, written, or moved:

- sentinel trees unchanged (content hash, mode, owner, mtime, inode, entry list);
- the sentinel marker string appears nowhere in the data root, nor anywhere in the raw
  btrfs image (which also catches a copy that was made and deleted again, e.g. an
  abandoned init);
- no root-owned file appeared in the users' homes;
- the daemon still serves.
"""
import hashlib
import os
import shutil
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import wsck
from wsck import ALICE, BOB, checkpoint

INIT_SECONDS = 8.0
ROLLBACK_SECONDS = 8.0
RECOVER_SECONDS = 10.0
MAX_ITERS = 400

# Runs as the attacker: swap each (W, S) pair with RENAME_EXCHANGE, pause a little, swap
# back, until SIGTERM (a pair is always completed, so names are restored unless ws-ckpt
# itself moved something in between) or the deadline. Prints "ready", then the count.
ATTACKER = r"""
import ctypes, os, random, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
end = time.monotonic() + float(sys.argv[1])
pairs = [(sys.argv[i].encode(), sys.argv[i + 1].encode()) for i in range(2, len(sys.argv), 2)]
def xchg(a, b):
    return libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0
n = fails = 0
sys.stdout.write("ready\n"); sys.stdout.flush()
while not stop and time.monotonic() < end:
    a, b = random.choice(pairs)
    if xchg(a, b):
        time.sleep(random.choice((0, 0, 0.0002, 0.001, 0.003)))
        while not xchg(a, b):
            time.sleep(0.0005)  # must complete the pair
        n += 1
    else:
        fails += 1
    time.sleep(random.choice((0, 0.0003, 0.001, 0.004)))
sys.stdout.write("%d %d\n" % (n, fails))
"""


# --------------------------------------------------------------------------- helpers

def _home(user):
    return Path(pwd.getpwnam(user).pw_dir)


def _chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
            os.lchown(n, pw.pw_uid, pw.pw_gid)


def _symlink_as(user, target, link):
    os.symlink(str(target), str(link))
    pw = pwd.getpwnam(user)
    os.lchown(link, pw.pw_uid, pw.pw_gid)


def _fill(path, marker, n=40):
    path.mkdir(mode=0o755, exist_ok=True)
    for i in range(n):
        (path / ("f%03d.txt" % i)).write_text("%s %d\n" % (marker, i))
    (path / "sub").mkdir(exist_ok=True)
    for i in range(5):
        (path / "sub" / ("g%d.txt" % i)).write_text("%s sub %d\n" % (marker, i))


def tree_fingerprint(root):
    """{relpath: (type, mode, uid, gid, ino, mtime_ns, sha256|linktarget)} without following."""
    out = {}
    root = str(root)
    st = os.lstat(root)
    out["."] = ("d", st.st_mode, st.st_uid, st.st_gid, st.st_ino, st.st_mtime_ns, None)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                kind = "f"
            elif stat.S_ISLNK(st.st_mode):
                extra, kind = os.readlink(p), "l"
            else:
                extra, kind = None, "d" if stat.S_ISDIR(st.st_mode) else "o"
            out[rel] = (kind, st.st_mode, st.st_uid, st.st_gid, st.st_ino, st.st_mtime_ns, extra)
    return out


def diff_fingerprints(before, after):
    problems = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            problems.append("missing: %s" % k)
        elif k not in before:
            problems.append("extra: %s %r" % (k, after[k]))
        elif before[k] != after[k]:
            problems.append("changed: %s %r -> %r" % (k, before[k], after[k]))
    return problems


def root_owned(home):
    out = set()
    for dirpath, dirnames, filenames in os.walk(str(home), followlinks=False):
        for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
            try:
                if os.lstat(n).st_uid == 0:
                    out.add(n)
            except FileNotFoundError:
                pass
    return out


def files_with_marker(root, marker):
    hits = []
    for dirpath, dirnames, filenames in os.walk(str(root), followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if marker in n.encode():
                hits.append(p)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode) and marker in os.readlink(p).encode():
                hits.append(p + " (symlink)")
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(p, "rb") as f:
                        if marker in f.read():
                            hits.append(p)
                except OSError as e:
                    hits.append("%s unreadable: %s" % (p, e))
    return hits


def image_contains(img, marker):
    """Scan the raw btrfs image (after a sync) for marker."""
    os.sync()
    keep = len(marker) - 1
    prev = b""
    with open(img, "rb") as f:
        while True:
            chunk = f.read(8 << 20)
            if not chunk:
                return False
            if marker in prev + chunk:
                return True
            prev = chunk[-keep:]


class Attacker:
    def __init__(self, user, pairs, seconds):
        pw = pwd.getpwnam(user)
        argv = ["/usr/bin/python3", "-B", "-c", ATTACKER, str(seconds)]
        for a, b in pairs:
            argv += [str(a), str(b)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, cwd="/",
                                     env=wsck.user_env(user), user=pw.pw_uid, group=pw.pw_gid,
                                     extra_groups=wsck.user_groups(user),
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if line != "ready\n":
            self.kill()
            raise AssertionError("attacker did not start: %r %s" % (line, self.proc.stderr.read()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("attacker did not stop")
        assert self.proc.returncode == 0, err
        swaps, fails = out.split()[-2:]
        return int(swaps), int(fails)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def sentinels(daemon):
    """Root sentinel dir plus a sentinel dir in each test user's home; checked at the end."""
    marker = ("SENTINEL-CONTENT-" + wsck.rand_name(20)).encode()
    made = []
    root = Path(tempfile.mkdtemp(prefix="wsck-sentinel-", dir="/tmp"))
    made.append(root)
    os.chmod(root, 0o755)
    _fill(root, marker.decode())
    (root / "hostname").write_bytes(marker + b" hostname\n")
    (root / "shadow").write_bytes(marker + b" root only\n")
    os.chmod(root / "shadow", 0o600)
    _fill(root / "ws", marker.decode())  # so that "<symlinked parent>/ws" resolves here
    users = {}
    for u in (ALICE, BOB):
        d = _home(u) / ("sentinel-" + wsck.rand_name())
        made.append(d)
        _fill(d, marker.decode())
        (d / "private").write_bytes(marker + b" private to %s\n" % u.encode())
        os.chmod(d / "private", 0o600)
        _fill(d / "ws", marker.decode())
        _chown_tree(d, u)
        users[u] = d
    trees = [root] + list(users.values())
    before = {str(t): tree_fingerprint(t) for t in trees}
    homes_before = {u: root_owned(_home(u)) for u in (ALICE, BOB)}
    s = type("Sentinels", (), {})()
    s.marker, s.root, s.user_dir = marker, root, users

    yield s

    try:
        problems = []
        for t in trees:
            problems += ["%s: %s" % (t, p) for p in
                         diff_fingerprints(before[str(t)], tree_fingerprint(t))]
        for u in (ALICE, BOB):
            extra = root_owned(_home(u)) - homes_before[u]
            problems += ["root-owned file appeared in %s's home: %s" % (u, p)
                         for p in sorted(extra)]
        # the daemon still serves; its new workspace also is the scans' positive control
        p = daemon.cli(["status"], user=ALICE, check=None)
        assert p.returncode == 0, p.stdout + p.stderr
        control = "CONTROL-CONTENT-" + wsck.rand_name(20)
        ws = daemon.make_ws(ALICE, {"after.txt": control + "\n"})
        checkpoint(daemon, ALICE, ws, "after1")
        assert Path(os.readlink(ws)).parent == daemon.mnt
        assert files_with_marker(daemon.mnt, control.encode()), "data-root scan is blind"
        assert image_contains(daemon.img, control.encode()), "raw image scan is blind"
        problems += ["sentinel content inside the data root: %s" % h
                     for h in files_with_marker(daemon.mnt, marker)]
        if image_contains(daemon.img, marker):
            problems.append("sentinel content found in the raw btrfs image %s" % daemon.img)
        assert not problems, "\n".join(problems)
    finally:
        for t in made:
            shutil.rmtree(t, ignore_errors=True)


def _race_dir(d, user):
    base = _home(user) / ("race-" + wsck.rand_name())
    base.mkdir(mode=0o755)
    d.track(base)
    _chown_tree(base, user)
    return base


def _outcome(p):
    """A short, path-free classification of a CLI result."""
    if p.returncode == 0:
        return "ok"
    line = (p.stderr.strip().splitlines() or ["?"])[0]
    code = line.split("]")[0] + "]" if line.startswith("Error [") else line[:30]
    for hint in ("do not own", "no longer", "replaced", "not the ws-ckpt symlink", "symlink", "parent",
                 "mount point", "not a directory", "busy"):
        if hint in p.stderr:
            return "%s %s" % (code, hint)
    return code


def _new_init_target(d, user, s):
    """base/p/ws (the user's directory to init) and the evil symlinks around it."""
    other = BOB if user == ALICE else ALICE
    base = _race_dir(d, user)
    p = base / "p"
    w = p / "ws"
    p.mkdir(mode=0o755)
    _fill(w, "OWNER-DATA-" + user)
    # W <-> symlink to the sentinel dir, to the other user's dir
    _symlink_as(user, s.root, p / "evil-root")
    _symlink_as(user, s.user_dir[other], p / "evil-other")
    # parent P <-> symlink to a dir holding a "ws" that is not the user's
    _symlink_as(user, s.root, base / "evilp-root")
    _symlink_as(user, s.user_dir[other], base / "evilp-other")
    _chown_tree(base, user)
    pairs = [(w, p / "evil-root"), (w, p / "evil-other"),
             (p, base / "evilp-root"), (p, base / "evilp-other")]
    return w, pairs


def _registered_paths(d):
    return {w["workspace_path"]: w["ws_id"] for w in d.state().get("workspaces", [])}


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("attacker", [ALICE, BOB])
def test_init_races_symlink_swaps(daemon, sentinels, attacker):
    d, s = daemon, sentinels
    w, pairs = _new_init_target(d, attacker, s)
    att = Attacker(attacker, pairs, INIT_SECONDS + 30)
    outcomes = {}
    successes = []
    swaps = [0, 0]
    deadline = time.monotonic() + INIT_SECONDS
    try:
        for i in range(MAX_ITERS):
            if time.monotonic() >= deadline:
                break
            p = d.cli(["init", "-w", w], user=attacker, check=None)
            key = _outcome(p)
            outcomes[key] = outcomes.get(key, 0) + 1
            if p.returncode == 0 and "already" not in p.stdout.lower():
                # A real init went through: check what was registered, then start over on a
                # fresh directory (the registered one would only answer "already").
                swaps = [a + b for a, b in zip(swaps, att.stop())]
                reg = _registered_paths(d)
                successes.append((str(w), p.stdout.strip()))
                for path, ws_id in reg.items():
                    assert path.startswith(str(_home(attacker)) + "/race-"), \
                        "init registered a path outside the attacker's directories: %s" % path
                    live = d.live_dir(ws_id)
                    for n in os.listdir(live):
                        if n in ("sub",) or n.startswith("f"):
                            continue
                        raise AssertionError("unexpected entry %s in %s" % (n, live))
                    got = (live / "f000.txt").read_text()
                    assert got == "OWNER-DATA-%s 0\n" % attacker, got
                w, pairs = _new_init_target(d, attacker, s)
                att = Attacker(attacker, pairs, INIT_SECONDS + 30)
        swaps = [a + b for a, b in zip(swaps, att.stop())]
    finally:
        att.kill()
    print("init race as %s: outcomes %s, swaps %s, successful inits %d" %
          (attacker, outcomes, swaps, len(successes)))
    assert sum(outcomes.values()) >= 20, outcomes
    # every workspace ws-ckpt knows is one of the attacker's own directories
    for path in _registered_paths(d):
        assert path.startswith(str(_home(attacker)) + "/race-"), path


def _swap_pairs_for_link(d, user, s, w):
    other = BOB if user == ALICE else ALICE
    e1 = w.parent / ("evil-root-" + wsck.rand_name())
    e2 = w.parent / ("evil-other-" + wsck.rand_name())
    _symlink_as(user, s.root, e1)
    _symlink_as(user, s.user_dir[other], e2)
    d.track(e1)
    d.track(e2)
    return [(w, e1), (w, e2)]


def test_rollback_races_symlink_swaps(daemon, sentinels):
    d, s = daemon, sentinels
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "r1")
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    checkpoint(d, ALICE, ws, "r2")
    ws_id = d.ws_id_of(ws)
    pairs = _swap_pairs_for_link(d, ALICE, s, ws)
    att = Attacker(ALICE, pairs, ROLLBACK_SECONDS + 30)
    outcomes = {}
    deadline = time.monotonic() + ROLLBACK_SECONDS
    try:
        for i in range(MAX_ITERS):
            if time.monotonic() >= deadline:
                break
            ref = ws if i % 3 else ws_id
            target = "r1" if i % 2 == 0 else "r2"
            args = ["rollback", "-w", ref, "-s", target] + (["--discard-current"] if i % 4 else [])
            p = d.cli(args, user=ALICE, check=None)
            key = _outcome(p)
            outcomes[key] = outcomes.get(key, 0) + 1
        swaps = att.stop()
    finally:
        att.kill()
    print("rollback race: outcomes %s, swaps %s" % (outcomes, swaps))
    assert outcomes.get("ok", 0) >= 5, outcomes
    # the workspace is intact and still managed
    assert os.readlink(ws) == str(d.live_dir(ws_id))
    d.cli(["rollback", "-w", ws, "-s", "r2", "--discard-current"], user=ALICE)
    assert (ws / "a.txt").read_text() == "v2\n"


def test_recover_races_symlink_swaps(daemon, sentinels):
    d, s = daemon, sentinels
    base = _race_dir(d, ALICE)
    outcomes = {}
    iters = 0
    deadline = time.monotonic() + RECOVER_SECONDS
    ws = None
    while time.monotonic() < deadline and iters < MAX_ITERS:
        iters += 1
        if ws is None or not (os.path.isdir(ws) and not os.path.islink(ws)):
            if ws is not None and not os.path.islink(ws):
                ws = None
            if ws is None:
                ws = base / ("ws-" + wsck.rand_name())
                _fill(ws, "OWNER-DATA-" + ALICE)
                _chown_tree(ws, ALICE)
        if not os.path.islink(ws):
            # (re-)init: a plain directory again after a successful recover
            checkpoint(d, ALICE, ws, "c%d" % iters)
        ws_id = d.ws_id_of(ws)
        if os.readlink(ws) != str(d.live_dir(ws_id)):
            ws = None  # displaced by the attacker's own swaps; continue on a fresh one
            continue
        pairs = _swap_pairs_for_link(d, ALICE, s, ws)
        att = Attacker(ALICE, pairs, 30)
        try:
            time.sleep(0.005)
            p = d.cli(["recover", "--force", "-w", ws], user=ALICE, check=None)
            att.stop()
        finally:
            att.kill()
        key = _outcome(p)
        outcomes[key] = outcomes.get(key, 0) + 1
        if p.returncode == 0:
            # the recovered data is the owner's, wherever her own swaps left it
            assert ws_id not in _registered_paths(d).values()
            if os.path.isdir(ws) and not os.path.islink(ws):
                assert (ws / "f000.txt").read_text() == "OWNER-DATA-%s 0\n" % ALICE
                assert os.lstat(ws).st_uid == pwd.getpwnam(ALICE).pw_uid
            else:
                ws = None
        elif os.path.islink(ws) and os.readlink(ws) != str(d.live_dir(ws_id)):
            ws = None
    print("recover race: %d iterations, outcomes %s" % (iters, outcomes))
    assert iters >= 5, outcomes
    # every remaining registration is one of alice's race directories
    for path in _registered_paths(d):
        assert path.startswith(str(base) + "/") or path.startswith(str(_home(ALICE))), path
