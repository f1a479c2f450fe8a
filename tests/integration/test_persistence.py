"""Persistence and recovery: the six operator scenarios of scenarios/persistence.md, plus a
corrupt state.json and clean restarts. The daemon is started and stopped directly
(ws-ckptd -f -c CONF, SIGTERM). "A second daemon on the same state dir refuses" is covered by
test_durability.py::test_second_daemon_on_same_state_dir_refuses and not repeated here."""
import json
import os
import re
import shutil
import subprocess

import pytest

import wsck
from wsck import ALICE, checkpoint, list_ids, list_json


# --------------------------------------------------------------------------- helpers

def _run_to_exit(d, timeout=30):
    """Start ws-ckptd and expect it to exit by itself; returns (rc, log)."""
    proc, logf = d.spawn()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("daemon did not exit; log:\n%s" % logf.read_text(errors="replace"))
    return rc, logf.read_text(errors="replace")


def _last_log(d):
    return d.logfiles[-1].read_text(errors="replace")


def _has(log, pattern):
    return re.search(pattern, log, re.I) is not None


def _restart(d):
    d.stop()
    d.start()
    return _last_log(d)


def _host_has_btrfs_base():
    """A writable, non-loop btrfs mount exists (what the BtrfsBase backend would use)."""
    for src, _mp, fstype in wsck.mounts():
        if fstype == "btrfs" and src.startswith("/dev/") and not src.startswith("/dev/loop"):
            return True
    return False


def _setup_ws(d, snaps, files=None):
    ws = d.make_ws(ALICE, files or {"a.txt": "v1\n", "sub/b.txt": "b\n"})
    for s in snaps:
        checkpoint(d, ALICE, ws, s, "-m", "msg of %s" % s)
    return ws, d.ws_id_of(ws)


def _missing_of(d, ws):
    return {e["id"]: e["meta"]["missing"] for e in list_json(d, ALICE, str(ws))}


# --------------------------------------------------------------------------- scenario 1

def test_s1_restart_restores_from_state_json(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    for n in (1, 2, 3):
        checkpoint(d, ALICE, ws, "persist-%d" % n, "-m", "persist test %d" % n)
    assert list_ids(d, ALICE, str(ws)) == ["persist-1", "persist-2", "persist-3"]
    text = d.cli(["list", "-w", ws], user=ALICE).stdout
    for n in (1, 2, 3):
        assert "persist-%d" % n in text, text
    st = json.loads(d.state_file.read_text())  # parses as JSON
    ws_id = d.ws_id_of(ws)
    assert ws_id in [w["ws_id"] for w in st["workspaces"]]
    idx = d.index(ws_id)
    assert idx["workspace_path"] == str(ws)
    assert sorted(idx["snapshots"]) == ["persist-1", "persist-2", "persist-3"]
    for n in (1, 2, 3):
        meta = idx["snapshots"]["persist-%d" % n]
        assert meta["message"] == "persist test %d" % n
        assert meta["missing"] is False and meta["pinned"] is False and meta["created_at"]

    log = _restart(d)
    entries = list_json(d, ALICE, str(ws))
    assert [e["id"] for e in entries] == ["persist-1", "persist-2", "persist-3"]
    assert [e["meta"]["message"] for e in entries] == ["persist test %d" % n for n in (1, 2, 3)]
    assert _has(log, r"restoring from persisted state"), log
    assert not _has(log, r"registry rebuilt|rebuild|scann"), \
        "a restart with a good state.json must not rebuild from the snapshots root:\n" + log
    assert not _has(log, r"unclean|crash"), log
    for n in (1, 2, 3):
        d.cli(["delete", "-w", ws, "-s", "persist-%d" % n, "--force"], user=ALICE)
    assert list_ids(d, ALICE, str(ws)) == []
    assert d.snapshots_on_disk(ws_id) == set()
    assert d.index(ws_id)["snapshots"] == {}


# --------------------------------------------------------------------------- scenario 2

def test_s2_persisted_backend_type_is_authoritative(daemon):
    if _host_has_btrfs_base():
        pytest.skip("this host has a btrfs mount of its own: BtrfsBase would start")
    d = daemon
    ws, ws_id = _setup_ws(d, ["auth-1"])
    st = d.state()
    assert st["backend"]["backend_type"] == "BtrfsLoop"
    d.stop()
    d.conf.write_text(d.conf.read_text().replace('type = "btrfs-loop"', 'type = "auto"'))
    assert 'type = "auto"' in d.conf.read_text()
    backup = d.state_dir / "state.json.test-backup"
    shutil.copy2(d.state_file, backup)
    st["backend"]["backend_type"] = "BtrfsBase"
    d.state_file.write_text(json.dumps(st, indent=2))

    rc, log = _run_to_exit(d)
    assert rc != 0, "daemon started with a BtrfsBase state on a host without btrfs:\n" + log
    assert ("Backend type 'btrfs-base' selected but no mounted btrfs partition found. "
            "Please mount a btrfs partition or switch to 'btrfs-loop' backend.") in log, log
    assert not os.path.lexists(d.sock), "socket left by a daemon that failed to start"
    assert not wsck.our_binary_pids(d.dir)
    # the failed start must not have "fixed" the persisted state behind the operator's back
    assert d.state()["backend"]["backend_type"] == "BtrfsBase"
    assert not os.path.exists(d.mnt / "ws-ckpt-data")
    assert not d.lock_file.exists(), "a refused start left daemon.lock (next start says unclean)"

    shutil.copy2(backup, d.state_file)
    d.start()
    log = _last_log(d)
    assert _has(log, r"restoring from persisted state"), log
    assert not _has(log, r"unclean"), log
    st2 = d.state()
    assert st2["backend"]["backend_type"] == "BtrfsLoop"
    assert st2["backend"]["selection_method"] == "persisted", st2["backend"]
    assert list_ids(d, ALICE, str(ws)) == ["auth-1"]
    checkpoint(d, ALICE, ws, "auth-2")
    assert wsck.read_text(d.snap_dir(ws_id, "auth-1") / "a.txt") == "v1\n"


# --------------------------------------------------------------------------- scenario 3

def test_s3_lockfile_crash_detection_and_clean_stop(daemon):
    d = daemon
    ws, ws_id = _setup_ws(d, ["lock-1", "lock-2"])
    # a. crash
    assert int(d.lock_file.read_text().strip()) == d.pid
    d.kill9()
    assert d.lock_file.exists(), "kill -9 cannot remove the lockfile: it must still be there"
    p = wsck.run(["flock", "-n", d.lock_file, "true"], check=False)
    assert p.returncode == 0, "the kernel should have released the lock: %s" % p.stderr
    d.start()
    log = _last_log(d)
    m = re.search(r"Detected unclean shutdown \(lockfile (\S+) present from previous run\)", log,
                  re.I)
    assert m, log
    assert m.group(1) == str(d.lock_file), m.group(0)
    assert _has(log, r"reconcil"), log
    assert list_ids(d, ALICE, str(ws)) == ["lock-1", "lock-2"]
    assert int(d.lock_file.read_text().strip()) == d.pid
    # b. clean stop
    d.stop()
    assert not d.lock_file.exists(), "daemon.lock left behind by a clean stop"
    d.start()
    log = _last_log(d)
    assert not _has(log, r"unclean|crash"), log
    assert list_ids(d, ALICE, str(ws)) == ["lock-1", "lock-2"]


def test_clean_restarts_never_report_a_crash(daemon):
    d = daemon
    first = _last_log(d)
    assert _has(first, r"no state\.json.*fresh start"), first
    assert not _has(first, r"unclean|crash"), first
    ws, _ = _setup_ws(d, ["clean-1"])
    for _ in range(3):
        log = _restart(d)
        assert not _has(log, r"unclean|crash"), log
        assert _has(log, r"restoring from persisted state"), log
    assert list_ids(d, ALICE, str(ws)) == ["clean-1"]


# --------------------------------------------------------------------------- scenario 4

def test_s4_migration_from_v0_layout(daemon):
    d = daemon
    ws, ws_id = _setup_ws(d, ["migrate-1"])
    d.stop()  # a clean stop folds the index journal: index.json alone is the index
    idx_text = d.index_file(ws_id).read_text()
    assert "migrate-1" in json.loads(idx_text)["snapshots"]
    assert wsck.mount_count(d.mnt) == 1, "the mount should stay after a clean stop"
    os.unlink(d.state_file)
    shutil.rmtree(d.state_dir / "indexes")
    old = d.snap_root(ws_id) / "index.json"
    old.write_text(idx_text)

    d.start()
    log = _last_log(d)
    assert _has(log, r"migrating from v0 layout"), log
    st = d.state()
    assert [w["ws_id"] for w in st["workspaces"]] == [ws_id]
    assert st["workspaces"][0]["workspace_path"] == str(ws)
    assert st["backend"]["backend_type"] == "BtrfsLoop"
    idx = d.index(ws_id)
    assert idx["workspace_path"] == str(ws)
    assert list(idx["snapshots"]) == ["migrate-1"]
    assert idx["snapshots"]["migrate-1"]["message"] == "msg of migrate-1"
    # still the owner's: alice lists it and can use it
    assert list_ids(d, ALICE, str(ws)) == ["migrate-1"]
    assert not os.path.lexists(old), "v0 index.json was copied, not moved"
    assert d.snapshots_on_disk(ws_id) == {"migrate-1"}
    checkpoint(d, ALICE, ws, "migrate-2")
    d.cli(["rollback", "-w", ws, "-s", "migrate-1", "--discard-current"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "v1\n"


# --------------------------------------------------------------------------- scenario 5

def test_s5_lost_image_gives_precise_errors(daemon):
    d = daemon
    ws, ws_id = _setup_ws(d, ["device-test"])
    st = d.state()
    assert [(w["ws_id"], w["workspace_path"]) for w in st["workspaces"]] == [(ws_id, str(ws))]
    d.stop()
    errors = []
    assert wsck.umount_all_under(d.mnt, errors), errors
    for dev in wsck.loops_backing(d.img):
        wsck.run(["losetup", "-d", dev])
    assert not wsck.loops_backing(d.img)
    away = d.dir / "btrfs-data.img.away"
    os.rename(d.img, away)

    proc, logf = d.spawn()
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None  # still running: allowed if it serves nothing for the lost workspace
    log = logf.read_text(errors="replace")
    try:
        assert ("Backend image file not found at %s" % d.img) in log, log
        assert re.search(r"persisted state expects a BtrfsLoop backend with 1 workspace", log), log
        assert ws_id in log or str(ws) in log, "error does not name the workspace:\n" + log
        assert not re.search(r"no workspaces found", log, re.I), log
        assert not d.img.exists(), "an empty image was created over the lost one"
        assert wsck.mount_count(d.mnt) == 0 and not wsck.loops_backing(d.img)
        if rc is not None:
            assert not d.lock_file.exists(), "a refused start left daemon.lock"
    finally:
        if rc is None:
            proc.kill()
            proc.wait()
    assert rc != 0, log

    os.rename(away, d.img)
    d.start()
    log = _last_log(d)
    assert _has(log, r"restoring from persisted state"), log
    assert list_ids(d, ALICE, str(ws)) == ["device-test"]
    assert wsck.read_text(d.snap_dir(ws_id, "device-test") / "a.txt") == "v1\n"
    assert wsck.read_text(ws / "a.txt") == "v1\n"
    d.cli(["delete", "-w", ws, "-s", "device-test", "--force"], user=ALICE)
    assert list_ids(d, ALICE, str(ws)) == []


# --------------------------------------------------------------------------- scenario 6

def test_s6_snapshot_subvolume_lost_and_recovered(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "A\n"})
    checkpoint(d, ALICE, ws, "snap-a")
    wsck.write_as(ALICE, ws / "a.txt", "B\n")
    checkpoint(d, ALICE, ws, "snap-b")
    ws_id = d.ws_id_of(ws)
    wsck.write_as(ALICE, ws / "a.txt", "live\n")
    d.stop()
    wsck.run(["btrfs", "subvolume", "delete", d.snap_dir(ws_id, "snap-a")])
    d.start()
    log = _last_log(d)
    lines = [l for l in log.splitlines()
             if re.search(r"Snapshot snap-a subvolume missing at \S*snap-a, marking as unavailable",
                          l)]
    assert lines, log
    assert re.search(r"\berr(or)?\b", lines[0], re.I), "not an error-level line: %s" % lines[0]
    assert str(d.snap_dir(ws_id, "snap-a")) in lines[0], lines[0]
    assert d.running()
    idx = d.index(ws_id)["snapshots"]
    assert idx["snap-a"]["missing"] is True
    assert idx["snap-b"]["missing"] is False
    assert _missing_of(d, ws) == {"snap-a": True, "snap-b": False}
    text = d.cli(["list", "-w", ws], user=ALICE).stdout
    [la] = [l for l in text.splitlines() if "snap-a" in l]
    [lb] = [l for l in text.splitlines() if "snap-b" in l]
    assert "snap-a [MISSING]" in la, text
    assert "[MISSING]" not in lb, text

    p = d.cli(["rollback", "-w", ws, "-s", "snap-a"], user=ALICE, check=None)
    assert p.returncode != 0
    assert "subvolume is missing (data lost)" in p.stderr + p.stdout, p.stderr
    assert re.search(r"delete .*--force", p.stderr + p.stdout), p.stderr
    assert wsck.read_text(ws / "a.txt") == "live\n", "a refused rollback changed the workspace"
    r = d.raw({"v": 1, "id": 1, "op": "rollback", "workspace": ws_id, "snapshot": "snap-a"},
              user=ALICE)
    assert wsck.err_code(r) == "SnapshotNotFound", r
    assert "--force" in r["error"].get("hint", ""), r

    d.cli(["rollback", "-w", ws, "-s", "snap-b"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "B\n"
    d.cli(["delete", "-w", ws, "-s", "snap-a", "--force"], user=ALICE)
    ids = list_ids(d, ALICE, str(ws))
    assert "snap-a" not in ids and "snap-b" in ids
    assert "snap-a" not in d.index(ws_id)["snapshots"]

    # 9. recovery of a subvolume that comes back
    checkpoint(d, ALICE, ws, "snap-c")
    d.stop()
    c_path = d.snap_dir(ws_id, "snap-c")
    wsck.run(["btrfs", "subvolume", "delete", c_path])
    d.start()
    assert _missing_of(d, ws)["snap-c"] is True
    d.stop()
    wsck.run(["btrfs", "subvolume", "snapshot", d.live_dir(ws_id), c_path])
    d.start()
    log = _last_log(d)
    assert _has(log, r"Snapshot snap-c subvolume recovered"), log
    assert _missing_of(d, ws)["snap-c"] is False
    assert d.index(ws_id)["snapshots"]["snap-c"]["missing"] is False
    text = d.cli(["list", "-w", ws], user=ALICE).stdout
    assert "[MISSING]" not in text, text
    wsck.write_as(ALICE, ws / "a.txt", "later\n")
    d.cli(["rollback", "-w", ws, "-s", "snap-c", "--discard-current"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "B\n"


# --------------------------------------------------------------------------- corrupt state.json

def _corrupt(kind, text):
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    if kind == "empty":
        return b""
    if kind == "garbage":
        return b"\x00\xff garbage {{{ \x89PNG\r\n" + os.urandom(200)
    if kind == "wrong-version":
        st = json.loads(text)
        st["version"] = 2
        return json.dumps(st).encode()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["truncated", "empty", "garbage", "wrong-version"])
def test_corrupt_state_json_is_kept_aside_and_rebuilt(daemon, kind):
    d = daemon
    ws1, id1 = _setup_ws(d, ["c-1", "c-2"])
    ws2 = d.make_ws(wsck.BOB, {"x.txt": "bob\n"})
    checkpoint(d, wsck.BOB, ws2, "b-1")
    id2 = d.ws_id_of(ws2)
    d.stop()
    bad = _corrupt(kind, d.state_file.read_text())
    d.state_file.write_bytes(bad)
    before = set(os.listdir(d.state_dir))

    d.start()
    log = _last_log(d)
    aside = [n for n in os.listdir(d.state_dir) if n not in before]
    kept = [n for n in aside if re.fullmatch(r"state\.json\.corrupt-\S+", n)]
    assert len(kept) == 1, "bad state.json not kept as state.json.corrupt-*: %s\n%s" % (aside, log)
    assert (d.state_dir / kept[0]).read_bytes() == bad, "the kept copy is not the bad file"
    assert re.search(r"is not a valid version-1 state file; kept it as \S*" + re.escape(kept[0]),
                     log), log
    # serving, and everything is back
    assert d.running()
    assert list_ids(d, ALICE, str(ws1)) == ["c-1", "c-2"]
    assert list_ids(d, wsck.BOB, str(ws2)) == ["b-1"]
    assert sorted(e["id"] for e in list_json(d)) == ["b-1", "c-1", "c-2"]
    st = d.state()
    assert st["version"] == 1
    assert {(w["ws_id"], w["workspace_path"]) for w in st["workspaces"]} == \
        {(id1, str(ws1)), (id2, str(ws2))}
    # owners are preserved: alice sees only hers
    assert sorted(e["id"] for e in list_json(d, ALICE)) == ["c-1", "c-2"]
    checkpoint(d, ALICE, ws1, "c-3")
    d.cli(["rollback", "-w", ws1, "-s", "c-1", "--discard-current"], user=ALICE)
    assert wsck.read_text(ws1 / "a.txt") == "v1\n"
    # and the rebuilt state is a good one: a clean restart restores from it
    log = _restart(d)
    assert _has(log, r"restoring from persisted state"), log
    assert not _has(log, r"corrupt|not a valid"), log
    assert list_ids(d, ALICE, str(ws1)) == ["c-1", "c-2", "c-3"]
