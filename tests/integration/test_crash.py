"""Crash-safety matrix (DESIGN §4): for every named crash point of the test build
(build/test, `make testbins`; WSCKPT_CRASH_AT=<name> makes the process _exit(86) there,
as abruptly as kill -9), run the operation that reaches it, restart without the crash point
(release build) and check that

  (a) the workspace path exists and holds exactly the before or the after content,
  (b) `list --format json` and the subvolumes on disk agree (no phantom entry, no orphan
      subvolume, no leftover temp subvolume, every snapshot read-only, no pending delete),
  (c) every snapshot acknowledged before the crash is listed with its content intact, and
      no live data is lost (the pre-operation live content is still live or in a snapshot),
  (d) the operation can be retried and succeeds.

Retry semantics (d): an interrupted checkpoint may have been adopted at the restart; then
the retry with the same id answers SnapshotAlreadyExists, which is accepted only if the
snapshot is listed (with the content of the live workspace at the time). An interrupted
delete may have been finished by reconcile; then the retry answers SnapshotNotFound, which
is accepted only if the snapshot is gone from the list and from disk. An interrupted init
that was completed at the restart answers "already initialized" (exit 0).

An interrupted recover (undo init) must leave either the managed workspace intact or the
owner's plain directory with nothing of the workspace behind; its retry answers an error
only if the recover had completed.

Then a randomized version: the release daemon, a random checkpoint/rollback/delete, kill -9
of privd 0-30 ms later, restart, check (a)-(c) (WSCK_CRASH_ITERS / WSCK_CRASH_SECONDS /
WSCK_SEED for a longer soak or a replay); a short randomized init version; and one emulated
crash inside recover_finish where no named crash point exists.
test_crash_points_list_matches_the_source fails when a crash_point() is added to privd/
without a row here.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

import wsck
from wsck import ALICE, checkpoint, init_ws, list_json

CRASH_RC = 86

CRASH_POINTS = [
    "init.intent", "init.subvol", "init.worker", "init.worker.copied", "init.worker.swapped",
    "init.swapped", "init.done",
    "checkpoint.begun", "checkpoint.snapshot", "checkpoint.indexed",
    "rollback.tmp", "rollback.exchanged", "rollback.moved", "rollback.recorded",
    "rollback.begun",   # --discard-current only: intent written, snapshot not made
    "rollback.intent",  # --discard-current only: after the intent, before the discard
    "delete.intent", "delete.subvol",
    # recover (undo init: the workspace becomes a plain directory again)
    "recover.worker.copied", "recover.swapped",
    # folding the index journal into index.json (test_index_journal.py)
    "index.compacted",
]
# points tested by their own scenario elsewhere, not by the matrix below
OWN_SCENARIO = {"index.compacted"}
# reached only by a rollback with --discard-current (matrix entry with discard below)
DISCARD_ONLY = {"rollback.begun", "rollback.intent"}
# these run in a worker: the worker dies, privd survives and must handle it
WORKER_POINTS = {"init.worker.copied", "init.worker.swapped", "recover.worker.copied"}

V1 = {"a.txt": "v1\n", "dir/b.txt": "b-v1\n", "only-v1": "1\n"}
V2 = {"a.txt": "v2\n", "dir/b.txt": "b-v2\n", "dir/deep/c.txt": "c-v2\n", "only-v2": "2\n"}
V3 = {"a.txt": "v3\n", "dir/b.txt": "b-v3\n", "only-v3": "3\n", "empty-dir/": None}
VN = {"new.txt": "brand new\n", "sub/x.txt": "x\n", "sub/y/z.txt": "z\n"}

SWAP_LEFTOVER_RE = re.compile(r"^\.(ws-[0-9a-f]{6})\.ws-ckpt-swap$")
RECOVER_TMP = ".%s.ws-ckpt-recover"


def test_crash_points_list_matches_the_source():
    """Every crash_point() in privd/ is in the matrix, and nothing else."""
    root = Path(__file__).resolve().parents[2] / "privd"
    found = set()
    for f in root.glob("*.c"):
        found |= set(re.findall(r'crash_point\("([^"]+)"\)', f.read_text()))
    assert found == set(CRASH_POINTS), "matrix %s vs source %s" % (sorted(CRASH_POINTS),
                                                                   sorted(found))


# --------------------------------------------------------------------------- content helpers

def tree_of(root):
    """{relpath: text} for files, {relpath + "/": None} for directories, "-> target" for
    symlinks; read as root without following symlinks out of root."""
    root = str(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            else:
                out[rel + "/"] = None
        for n in filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            else:
                with open(p, "r", errors="replace") as f:
                    out[rel] = f.read()
    return out


def expected_tree(version):
    out = {}
    for rel, content in version.items():
        if rel.endswith("/"):
            out[rel] = None
            continue
        out[rel] = content
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out["/".join(parts[:i]) + "/"] = None
    return out


def which_version(tree, versions):
    """Name of the version tree equals, or None."""
    for name, v in versions.items():
        if tree == expected_tree(v):
            return name
    return None


def write_version(path, version, user=ALICE):
    """Replace the content of workspace path (through its symlink) with version."""
    pw = wsck.user_info(user)
    real = os.path.realpath(path)
    for n in os.listdir(real):
        p = os.path.join(real, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
    for rel, content in version.items():
        p = Path(real) / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
    for dirpath, dirnames, filenames in os.walk(real):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)


# --------------------------------------------------------------------------- invariants

def registered(d):
    return {w["ws_id"]: w["workspace_path"] for w in d.state().get("workspaces", [])}


def check_disk_agrees(d, ws_id, ws_path, user=ALICE):
    """(b) for one workspace; returns {snapshot id: tree}."""
    entries = list_json(d, user, str(ws_path))
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids)), "duplicate entries: %s" % ids
    missing = [e["id"] for e in entries if e["meta"]["missing"]]
    assert not missing, "snapshots flagged missing after a crash: %s" % missing
    bucket = d.snap_root(ws_id)
    names = set(os.listdir(bucket)) if bucket.is_dir() else set()
    not_subvol = {n for n in names if not wsck.is_subvolume(bucket / n)}
    assert not not_subvol, "non-subvolume entries in the bucket %s: %s" % (bucket, not_subvol)
    assert set(ids) == names, ("list and disk disagree for %s: only listed %s, only on disk %s"
                               % (ws_id, sorted(set(ids) - names), sorted(names - set(ids))))
    idx = d.index(ws_id)
    assert not idx.get("pending_delete"), "delete intent left after reconcile: %s" % idx
    assert set(idx["snapshots"]) == set(ids)
    writable = sorted(n for n in names if not wsck.subvol_readonly(bucket / n))
    deferred = getattr(d, "deferred", None)
    assert not writable or deferred is not None, "writable snapshot subvolumes in %s: %s" % (
        bucket, writable)
    for n in writable:  # reported at the end of the test, the other checks go on
        msg = "writable snapshot subvolume %s/%s" % (bucket, n)
        if msg not in deferred:
            deferred.append(msg)
    return {n: tree_of(bucket / n) for n in names}


def check_top_level(d):
    """No subvolume at the top of the data root but the registered live ones."""
    top = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
    extra = top - set(registered(d)) - {"snapshots"}
    assert not extra, "stray subvolumes at %s: %s" % (d.mnt, sorted(extra))
    for ws_id in registered(d):
        assert ws_id in top, "live subvolume of %s missing" % ws_id


def check_live(d, ws_id, ws_path, allowed):
    """(a) the path is our symlink to the live subvolume, holding exactly one version."""
    assert os.path.islink(ws_path), "%s is not the workspace symlink" % ws_path
    assert os.path.realpath(ws_path) == str(d.live_dir(ws_id))
    tree = tree_of(d.live_dir(ws_id))
    name = which_version(tree, allowed)
    assert name, "live content of %s is none of %s: %s" % (ws_path, sorted(allowed), tree)
    return name


def check_acked(snap_trees, acked):
    """(c) every acknowledged snapshot is there with its content."""
    for sid, version in acked.items():
        assert sid in snap_trees, "acknowledged snapshot %s lost (have %s)" % (sid,
                                                                             sorted(snap_trees))
        assert snap_trees[sid] == expected_tree(version), \
            "content of snapshot %s changed: %s" % (sid, snap_trees[sid])


def swap_leftovers(home):
    return [n for n in os.listdir(home) if SWAP_LEFTOVER_RE.match(n)]


# --------------------------------------------------------------------------- the matrix

class Scene:
    """Workspace ws1 with acknowledged s1 (V1), s2 (V2) and live V3; a plain directory wsn
    (VN) for init."""

    def __init__(self, d):
        self.d = d
        self.ws = d.make_ws(ALICE, V1)
        self.ws_id = init_ws(d, ALICE, self.ws)
        checkpoint(d, ALICE, self.ws, "s1", "-m", "one")
        write_version(self.ws, V2)
        checkpoint(d, ALICE, self.ws, "s2", "-m", "two")
        write_version(self.ws, V3)
        self.acked = {"s1": V1, "s2": V2}
        self.wsn = d.make_ws(ALICE, VN)
        self.home = self.wsn.parent

    def check_ws1(self, allowed, but=()):
        d = self.d
        live = check_live(d, self.ws_id, self.ws, allowed)
        snaps = check_disk_agrees(d, self.ws_id, self.ws)
        check_acked(snaps, {k: v for k, v in self.acked.items() if k not in but})
        # no live data lost: V3 (the live content before the operation) still exists
        if live != "V3":
            assert any(t == expected_tree(V3) for t in snaps.values()), \
                "the pre-operation live content V3 is gone: live %s, snapshots %s" % (
                    live, sorted(snaps))
        return live, snaps

    def check_recover(self):
        """(a)-(c) for recover: either still managed (everything intact) or a plain
        directory holding the live content, with nothing of the workspace left behind."""
        d = self.d
        tmp = self.ws.parent / (RECOVER_TMP % self.ws_id)
        if os.path.islink(self.ws):
            self.check_ws1({"V3": V3})
            assert self.ws_id in registered(d)
            if os.path.lexists(tmp):  # a partial copy of a failed attempt (documented)
                assert os.path.isdir(tmp) and not os.path.islink(tmp), tmp
                left, want = tree_of(tmp), expected_tree(V3)
                assert all(want.get(k, "absent") == v for k, v in left.items()), left
                print("recover left a partial copy at %s" % tmp)
                if tmp not in d.paths:
                    d.track(tmp)
            return "managed"
        assert os.path.isdir(self.ws), "%s vanished" % self.ws
        assert tree_of(self.ws) == expected_tree(V3), "recovered directory: %s" % tree_of(self.ws)
        assert self.ws_id not in registered(d), "recovered but still registered"
        assert not os.path.lexists(d.live_dir(self.ws_id)), "live subvolume left"
        assert not os.path.lexists(d.snap_root(self.ws_id)), "snapshot bucket left"
        assert not os.path.lexists(d.index_file(self.ws_id).parent), "index left"
        assert not os.path.lexists(tmp), "old symlink / copy left at %s" % tmp
        st = os.lstat(self.ws)
        assert st.st_uid == wsck.user_info(ALICE).pw_uid, "recovered dir not owned by alice"
        return "recovered"

    def check_wsn(self):
        """(a) for the init target: the original dir untouched, or our symlink to VN."""
        d = self.d
        reg = registered(d)
        ids = [i for i, p in reg.items() if p == str(self.wsn)]
        assert os.path.lexists(self.wsn), "init target %s vanished" % self.wsn
        if os.path.islink(self.wsn):
            assert len(ids) == 1, "symlink at %s but registered as %s" % (self.wsn, ids)
            assert os.path.realpath(self.wsn) == str(d.live_dir(ids[0]))
            assert tree_of(d.live_dir(ids[0])) == expected_tree(VN)
            assert d.index(ids[0])["workspace_path"] == str(self.wsn)
            state = "initialized"
        else:
            assert os.path.isdir(self.wsn)
            assert not ids, "original directory in place but registered: %s" % ids
            assert tree_of(self.wsn) == expected_tree(VN), "original directory changed"
            state = "original"
        for n in swap_leftovers(self.home):
            p = self.home / n
            print("init left the original directory behind at %s (state %s)" % (p, state))
            if p not in d.paths:
                d.track(p)  # removed at teardown
            assert os.path.isdir(p) and not os.path.islink(p), \
                "stale swap entry %s: %s" % (p, os.readlink(p) if os.path.islink(p) else "?")
            assert tree_of(p) == expected_tree(VN)
        return state


def _run_op(d, sc, op, discard=False):
    if op == "init":
        return d.cli(["init", "-w", sc.wsn], user=ALICE, check=None, timeout=60)
    if op == "checkpoint":
        return d.cli(["checkpoint", "-w", sc.ws, "-i", "s3", "-m", "three"], user=ALICE,
                     check=None)
    if op == "rollback":
        return d.cli(["rollback", "-w", sc.ws, "-s", "s1"] +
                     (["--discard-current"] if discard else []), user=ALICE, check=None)
    if op == "delete":
        return d.cli(["delete", "-w", sc.ws, "-s", "s2", "--force"], user=ALICE, check=None)
    if op == "recover":
        return d.cli(["recover", "-w", sc.ws, "--force"], user=ALICE, check=None, timeout=60)
    raise ValueError(op)


def _check_after(sc, op, discard=False):
    """(a)-(c) for the scene; returns a summary dict."""
    out = {}
    if op == "recover":
        out["ws"] = sc.check_recover()
        out["snaps"] = sorted(d_snaps(sc)) if out["ws"] == "managed" else []
        out["wsn"] = sc.check_wsn()
        check_top_level(sc.d)
        return out
    if op == "rollback":
        out["live"], snaps = sc.check_ws1({"V3": V3, "V1": V1})
        if out["live"] == "V3":
            # not rolled back: only leftovers of this rollback may have appeared, holding V1
            for sid, t in snaps.items():
                if sid not in ("s1", "s2"):
                    assert re.match(r"auto-", sid), sid
                    assert t in (expected_tree(V1), expected_tree(V3)), (sid, t)
        elif not discard:
            assert any(t == expected_tree(V3) for s, t in snaps.items() if s not in sc.acked)
    else:
        # an unacknowledged delete may or may not have happened
        out["live"], snaps = sc.check_ws1({"V3": V3}, but=("s2",) if op == "delete" else ())
        if op == "checkpoint":
            extra = set(snaps) - {"s1", "s2"}
            assert extra <= {"s3"}, extra
            if "s3" in snaps:
                assert snaps["s3"] == expected_tree(V3), snaps["s3"]
        elif op == "delete":
            assert set(snaps) <= {"s1", "s2"}, sorted(snaps)
            if "s2" in snaps:
                assert snaps["s2"] == expected_tree(V2)
        else:
            assert set(snaps) == {"s1", "s2"}, sorted(snaps)
    out["snaps"] = sorted(snaps)
    out["wsn"] = sc.check_wsn()
    check_top_level(sc.d)
    return out


def d_snaps(sc):
    return check_disk_agrees(sc.d, sc.ws_id, sc.ws)


def _retry(d, sc, op, before, discard=False):
    """(d) the operation can be retried and succeeds (see the module docstring)."""
    p = _run_op(d, sc, op, discard)
    out = p.stdout + p.stderr
    if op == "init":
        assert p.returncode == 0, out
        assert sc.check_wsn() == "initialized"
        ws_id = d.ws_id_of(sc.wsn)
        assert check_disk_agrees(d, ws_id, sc.wsn) == {}
        checkpoint(d, ALICE, sc.wsn, "n1")
        assert wsck.read_text(d.snap_dir(ws_id, "n1") / "sub/y/z.txt") == "z\n"
    elif op == "checkpoint":
        if p.returncode != 0:
            assert "s3" in before["snaps"], "retry failed and s3 was not listed:\n" + out
            assert re.search(r"already exists", out, re.I), out
        snaps = check_disk_agrees(d, sc.ws_id, sc.ws)
        assert snaps["s3"] == expected_tree(V3)
    elif op == "rollback":
        assert p.returncode == 0, out
        assert check_live(d, sc.ws_id, sc.ws, {"V1": V1}) == "V1"
        snaps = check_disk_agrees(d, sc.ws_id, sc.ws)
        check_acked(snaps, sc.acked)
        if not discard:
            assert any(t == expected_tree(V3) for s, t in snaps.items() if s not in sc.acked)
    elif op == "recover":
        if p.returncode != 0:
            assert before["ws"] == "recovered", "retry of recover failed:\n" + out
        assert sc.check_recover() == "recovered"
    elif op == "delete":
        if p.returncode != 0:
            assert "s2" not in before["snaps"], "retry of delete failed:\n" + out
            assert re.search(r"not found", out, re.I), out
        snaps = check_disk_agrees(d, sc.ws_id, sc.ws)
        assert "s2" not in snaps and not (d.snap_root(sc.ws_id) / "s2").exists()
        assert snaps["s1"] == expected_tree(V1)
    check_top_level(d)


MATRIX = [(p, False) for p in CRASH_POINTS if p not in OWN_SCENARIO | DISCARD_ONLY] + [
    ("rollback.begun", True), ("rollback.tmp", True), ("rollback.exchanged", True),
    ("rollback.intent", True)]


@pytest.mark.parametrize("point,discard", MATRIX,
                         ids=[p + ("-discard" if dc else "") for p, dc in MATRIX])
def test_crash_point(make_flex_daemon, point, discard):
    assert wsck.TEST_BUILD.joinpath("ws-ckptd").exists(), "run `make testbins`"
    d = make_flex_daemon(bin_dir=wsck.TEST_BUILD)
    d.deferred = []  # invariant violations that do not stop the other checks
    sc = Scene(d)
    op = point.split(".")[0]
    d.stop()
    d.env_extra = {"WSCKPT_CRASH_AT": point}
    d.start()
    privd_pid = d.pid
    p = _run_op(d, sc, op, discard)

    if point in WORKER_POINTS:
        assert d.running(), "privd died with its worker (%s); log:\n%s" % (point, d.log_tail())
        if point in ("init.worker.copied", "recover.worker.copied"):
            assert p.returncode != 0, "%s reported success although its worker died:\n%s" % (
                op, p.stdout + p.stderr)
        else:
            assert p.returncode == 0, "the swap was done: init should stand:\n" + \
                p.stdout + p.stderr
        # the init worker runs as the owner: no child of privd may still run as alice
        alice_uid = str(wsck.user_info(ALICE).pw_uid)
        assert not [c for c in wsck.children_of(privd_pid) if wsck.proc_alive(c) and
                    (wsck.proc_status(c) or {}).get("Uid", "").split()[:1] == [alice_uid]], \
            "init worker still running"
        # the surviving daemon already agrees with the disk
        before = _check_after(sc, op, discard)
        if op == "init":
            expect_state = "original" if point == "init.worker.copied" else "initialized"
            assert before["wsn"] == expect_state, before
        else:
            assert before["ws"] == "managed", before
        d.stop()
        d.env_extra = {}
        d.bin_dir = wsck.BUILD
        d.start()
        log = d.last_log()
        assert not re.search(r"unclean", log, re.I), log
    else:
        rc = d.wait_exit(30)
        assert rc == CRASH_RC, "privd did not stop at crash point %s (rc %s); log:\n%s" % (
            point, rc, d.log_tail())
        assert p.returncode != 0, "the client got a success reply from a crashed daemon:\n" + \
            p.stdout
        assert d.lock_file.exists()
        # no worker of the crashed privd survives it
        wsck.wait_until(lambda: not wsck.binary_pids(d.dir, (wsck.TEST_BUILD,)), 5)
        assert not wsck.binary_pids(d.dir, (wsck.TEST_BUILD,)), "processes outlived privd"
        d.env_extra = {}
        d.bin_dir = wsck.BUILD
        d.start()
        log = d.last_log()
        assert re.search(r"Detected unclean shutdown", log, re.I), log
    before = _check_after(sc, op, discard)
    # what each point must have resolved to (atomic steps are either side, see DESIGN §4)
    expect = {
        "init.intent": ("wsn", "original"), "init.subvol": ("wsn", "original"),
        "init.worker": ("wsn", "original"), "init.worker.copied": ("wsn", "original"),
        "init.worker.swapped": ("wsn", "initialized"), "init.swapped": ("wsn", "initialized"),
        "init.done": ("wsn", "initialized"),
        "rollback.tmp": ("live", "V3"), "rollback.exchanged": ("live", "V1"),
        "rollback.moved": ("live", "V1"), "rollback.recorded": ("live", "V1"),
        "rollback.intent": ("live", "V1"),
        "recover.worker.copied": ("ws", "managed"), "recover.swapped": ("ws", "recovered"),
    }.get(point)
    if discard and point in ("rollback.begun", "rollback.tmp"):
        # a discarding rollback's intent is written before its snapshot: one that did
        # not make its snapshot did nothing; one that did is finished at the start (the
        # cut may have come after the answer), and the replaced V3 is kept
        expect = ("live", "V3" if point == "rollback.begun" else "V1")
    if point == "init.worker":
        # privd dies just after starting the worker, which dies with it (PDEATHSIG, sent
        # only once privd's exit is complete, including the teardown of its AIO context:
        # an RCU grace period) or first finishes a small copy and its swap: either way
        # the start must find a consistent state
        expect = ("wsn", before["wsn"] if before["wsn"] in ("original", "initialized") else "?")
    if expect:
        assert before[expect[0]] == expect[1], (point, before)
    if point == "checkpoint.indexed":
        assert "s3" in before["snaps"]
    if point == "checkpoint.begun":  # recorded ahead, snapshot never made: record dropped
        assert "s3" not in before["snaps"], before
        assert "s3 was recorded but its snapshot was not made" in d.log
        assert d.index(sc.ws_id)["head"] == "s2"
    if point.startswith("delete."):
        assert "s2" not in before["snaps"], "an interrupted delete was not finished: %s" % before
    _retry(d, sc, op, before, discard)
    # and a last clean restart changes nothing
    if op == "recover":
        d.stop()
        d.start()
        assert sc.check_recover() == "recovered"
        check_top_level(d)
    else:
        snaps_before = check_disk_agrees(d, sc.ws_id, sc.ws)
        d.stop()
        d.start()
        assert check_disk_agrees(d, sc.ws_id, sc.ws) == snaps_before
    assert not re.search(r"unclean|adopted|recovered|missing", d.last_log(), re.I), d.last_log()
    assert not d.deferred, "crash point %s: %s" % (point, d.deferred)


# --------------------------------------------------------------------------- randomized

def vtag(tag):
    return {"a.txt": tag + "\n", "d/b.txt": tag + ":b\n", "only-" + tag: tag + "\n"}


def _fire_and_kill(d, req, delay):
    """Send one request as root, kill -9 privd after delay; returns the reply or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(d.sock))
    s.sendall(wsck.encode_request(req))
    if delay:
        time.sleep(delay)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        s.close()
    for line in buf.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "ok" in obj:
            return obj
    return None


def test_randomized_kill9_during_operations(make_flex_daemon):
    seed = int(os.environ.get("WSCK_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    print("seed", seed)
    d = make_flex_daemon()  # release build
    d.deferred = []
    ws = d.make_ws(ALICE, vtag("t0"))
    ws_id = init_ws(d, ALICE, ws)
    acked = {}           # snapshot id -> tag
    live = "t0"
    for i in range(3):
        checkpoint(d, ALICE, ws, "k%d" % i)
        acked["k%d" % i] = live
        live = "t%d" % (i + 1)
        write_version(ws, vtag(live))
    known_tags = {"t0", "t1", "t2", "t3"}
    # WSCK_CRASH_ITERS / WSCK_CRASH_SECONDS: a longer soak by hand
    max_iters = int(os.environ.get("WSCK_CRASH_ITERS", 100))
    deadline = time.monotonic() + float(os.environ.get("WSCK_CRASH_SECONDS", 240))
    stats = {"iters": 0, "acked": 0, "checkpoint": 0, "rollback": 0, "delete": 0,
             "live_changed": 0, "adopted_or_recovered": 0}
    it = 0
    while it < max_iters and time.monotonic() < deadline:
        it += 1
        stats["iters"] = it
        live_before = live
        ops = ["checkpoint", "rollback", "delete"]
        weights = [4, 4, 2] if len(acked) < 10 else [1, 3, 6]
        if len(acked) < 3:
            weights = [1, 1, 0]
        op = rnd.choices(ops, weights)[0]
        stats[op] += 1
        target = None
        if op == "checkpoint":
            sid = "r%d" % it
            req = {"v": 1, "id": it, "op": "checkpoint", "workspace": ws_id, "snapshot": sid}
        elif op == "rollback":
            target = rnd.choice(sorted(acked))
            discard = rnd.random() < 0.3
            req = {"v": 1, "id": it, "op": "rollback", "workspace": ws_id, "snapshot": target,
                   "discard_current": discard}
        else:
            sid = rnd.choice(sorted(acked))
            req = {"v": 1, "id": it, "op": "delete", "workspace": ws_id, "snapshot": sid,
                   "force": True}
        # 0-30 ms, weighted towards the first milliseconds where the operation runs
        delay = rnd.uniform(0, rnd.choice((0.002, 0.006, 0.030)))
        reply = _fire_and_kill(d, req, delay)
        if reply is not None and not reply.get("ok") and \
                reply["error"]["code"] == "Busy" and \
                "stopped before answering" in reply["error"]["message"]:
            reply = None  # frontd's answer for a request privd died on: outcome unknown
        ok = bool(reply and reply.get("ok"))
        ctx = "iteration %d (seed %d): %s delay %.1f ms reply %s" % (it, seed, req,
                                                                   delay * 1000, reply)
        if reply is not None:
            assert ok, ctx  # nothing here should fail for a reason other than the kill
            stats["acked"] += 1
        d.start()
        try:
            assert re.search(r"Detected unclean shutdown", d.last_log(), re.I)
            # (a) the live workspace: before, or (rollback) the target
            allowed = {live_before: vtag(live_before)}
            if op == "rollback":
                allowed[acked[target]] = vtag(acked[target])
            name = check_live(d, ws_id, ws, allowed)
            if op == "rollback" and ok:
                assert name == acked[target], ctx
            # (b) index and disk agree
            snaps = check_disk_agrees(d, ws_id, ws)
            tags = {}
            for sid2, tree in snaps.items():
                t = which_version(tree, {k: vtag(k) for k in known_tags})
                assert t, "%s: snapshot %s holds an unknown/mixed tree %s" % (ctx, sid2, tree)
                tags[sid2] = t
            # (c) acknowledged snapshots intact (except the one an acked delete removed)
            for sid2, t in acked.items():
                if op == "delete" and sid2 == req["snapshot"]:
                    if ok:
                        assert sid2 not in snaps, ctx
                    elif sid2 in snaps:
                        assert tags[sid2] == t, ctx
                    continue
                assert sid2 in snaps, "%s: acknowledged snapshot %s lost" % (ctx, sid2)
                assert tags[sid2] == t, "%s: snapshot %s changed" % (ctx, sid2)
            if op == "checkpoint":
                if ok:
                    assert req["snapshot"] in snaps, ctx
                if req["snapshot"] in snaps:
                    assert tags[req["snapshot"]] == live_before, ctx
            new = set(snaps) - set(acked) - ({req["snapshot"]} if op == "checkpoint" else set())
            for sid2 in new:
                assert op == "rollback" and re.match(r"auto-", sid2), \
                    "%s: unexpected new snapshot %s" % (ctx, sid2)
            # no live data lost: the pre-operation live content is live or in a snapshot
            if name != live_before and not (op == "rollback" and req["discard_current"]):
                assert live_before in tags.values(), "%s: live content %s lost" % (
                    ctx, live_before)
            check_top_level(d)
        except AssertionError:
            print(d.log_tail(80))
            raise
        # the new model: everything listed is now known
        stats["adopted_or_recovered"] += len([s for s in new if s.startswith("auto-recovered")])
        acked = dict(tags)
        if name != live_before:
            stats["live_changed"] += 1
        live = "t%d" % (it + 10)
        known_tags.add(live)
        write_version(ws, vtag(live))
    print("randomized kill -9 stats:", stats)
    assert stats["iters"] >= 20, stats
    assert not d.deferred, "seed %d: %s" % (seed, d.deferred)
    # fully usable at the end
    d.cli(["rollback", "-w", ws, "-s", sorted(acked)[0], "--discard-current"], user=ALICE)
    assert tree_of(d.live_dir(ws_id)) == expected_tree(vtag(acked[sorted(acked)[0]]))


def test_randomized_kill9_during_init(make_flex_daemon):
    """init of a directory, privd killed 0-30 ms after the request: the directory is either
    untouched (and a retry initializes it) or initialized with the same content."""
    seed = int(os.environ.get("WSCK_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    d = make_flex_daemon()
    files = {"f%03d.txt" % i: "content %d\n" % i for i in range(150)}
    files.update({"deep/a/b/c.txt": "c\n"})
    outcomes = {"original": 0, "initialized": 0}
    stats = {"leftover": 0, "partial_leftover": 0}
    deadline = time.monotonic() + 60
    for it in range(25):
        if time.monotonic() > deadline:
            break
        path = d.make_ws(ALICE, files, name="init-%d-%s" % (it, wsck.rand_name(4)))
        delay = rnd.uniform(0, rnd.choice((0.006, 0.030)))
        reply = _fire_and_kill(d, {"v": 1, "id": 1, "op": "init", "workspace": str(path)}, delay)
        ctx = "init iteration %d (seed %d) delay %.1f ms reply %s" % (it, seed, delay * 1000,
                                                                     reply)
        d.start()
        try:
            reg = {p: i for i, p in registered(d).items()}
            if os.path.islink(path):
                assert str(path) in reg, ctx
                assert os.path.realpath(path) == str(d.live_dir(reg[str(path)])), ctx
                assert tree_of(path.resolve()) == expected_tree(files), ctx
                state = "initialized"
            else:
                assert os.path.isdir(path), "%s: %s vanished" % (ctx, path)
                assert str(path) not in reg, ctx
                assert tree_of(path) == expected_tree(files), "%s: original changed" % ctx
                assert not (reply and reply.get("ok")), "%s: acknowledged init undone" % ctx
                state = "original"
            for n in swap_leftovers(path.parent):
                # the original of a completed init, kept for the owner to remove by hand;
                # privd may have died while the worker was removing it: then it is partial
                p = path.parent / n
                assert os.path.isdir(p) and not os.path.islink(p), "%s: stale %s" % (ctx, p)
                assert state == "initialized", "%s: leftover %s of an undone init" % (ctx, p)
                left = tree_of(p)
                want = expected_tree(files)
                assert all(want.get(k, "absent") == v for k, v in left.items()), \
                    "%s: leftover %s holds something else: %s" % (ctx, p, left)
                stats["leftover"] += 1
                stats["partial_leftover"] += left != want
                shutil.rmtree(p)  # the documented hand clean-up of a completed init
            check_top_level(d)
            outcomes[state] += 1
            # (d) retry
            d.cli(["init", "-w", path], user=ALICE)
            assert os.path.islink(path) and tree_of(path.resolve()) == expected_tree(files)
            check_top_level(d)
        except AssertionError:
            print(d.log_tail(80))
            raise
    print("randomized init outcomes:", outcomes, stats)


def test_recover_interrupted_after_the_old_link_was_removed(make_flex_daemon):
    """Defence in depth: recover_finish now unregisters before it removes the old symlink
    (the proof that the swap happened), but a state where the link and the subvolumes are
    gone while the workspace is still registered must resolve too. It is emulated: crash at recover.swapped, then do
    by hand what privd would have done next, except the state update. The next start must
    still resolve it without a human: the path is the owner's plain directory again."""
    d = make_flex_daemon(bin_dir=wsck.TEST_BUILD)
    d.deferred = []
    sc = Scene(d)
    d.stop()
    d.env_extra = {"WSCKPT_CRASH_AT": "recover.swapped"}
    d.start()
    p = _run_op(d, sc, "recover")
    assert d.wait_exit(30) == CRASH_RC, d.log_tail()
    assert p.returncode != 0
    tmp = sc.ws.parent / (RECOVER_TMP % sc.ws_id)
    assert os.path.islink(tmp) and os.path.isdir(sc.ws) and not os.path.islink(sc.ws)
    # what recover_finish does before state_save()
    for n in os.listdir(d.snap_root(sc.ws_id)):
        wsck.run(["btrfs", "subvolume", "delete", d.snap_dir(sc.ws_id, n)])
    os.rmdir(d.snap_root(sc.ws_id))
    wsck.run(["btrfs", "subvolume", "delete", d.live_dir(sc.ws_id)])
    os.unlink(tmp)
    d.env_extra = {}
    d.bin_dir = wsck.BUILD
    d.start()
    assert tree_of(sc.ws) == expected_tree(V3)
    reg = registered(d)
    assert sc.ws_id not in reg, (
        "the recovered workspace is still registered (%s -> %s) although its path is a plain "
        "directory and its subvolumes are gone; log:\n%s" % (sc.ws_id, reg.get(sc.ws_id),
                                                              d.last_log()))
    # and the directory can be managed again
    d.cli(["init", "-w", sc.ws], user=ALICE)
    assert tree_of(sc.ws.resolve()) == expected_tree(V3)
