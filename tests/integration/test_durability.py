"""Crash safety and restarts: kill -9, clean restart, single instance, frontd lifetime."""
import os
import re
import signal
import socket
import subprocess

import wsck
from wsck import ALICE, checkpoint, list_ids, list_json


def _one_mount_one_loop(d):
    assert wsck.mount_count(d.mnt) == 1, "mounts at %s: %s" % (d.mnt, wsck.mounts_under(d.mnt))
    loops = wsck.loops_backing(d.img)
    assert len(loops) == 1, "loop devices backing %s: %s" % (d.img, loops)
    return loops[0]


def _fs_uuid(d):
    p = wsck.run(["findmnt", "-n", "-o", "UUID", "-M", d.mnt])
    return p.stdout.strip()


def test_kill9_right_after_checkpoint_keeps_the_snapshot(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "k1", "-m", "before crash")
    d.kill9()
    ws_id = d.ws_id_of(ws)
    assert "k1" in d.index(ws_id)["snapshots"], "acknowledged snapshot not in index.json"
    d.start()
    entries = list_json(d, ALICE, str(ws))
    assert [e["id"] for e in entries] == ["k1"]
    assert entries[0]["meta"]["message"] == "before crash"
    assert entries[0]["meta"]["missing"] is False
    assert wsck.is_subvolume(d.snap_dir(ws_id, "k1"))
    assert wsck.read_text(d.snap_dir(ws_id, "k1") / "a.txt") == "v1\n"
    _one_mount_one_loop(d)
    # and it is fully usable
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    checkpoint(d, ALICE, ws, "k2")
    d.cli(["rollback", "-w", ws, "-s", "k1", "--discard-current"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "v1\n"


def test_kill9_after_burst_of_checkpoints(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v0\n"})
    checkpoint(d, ALICE, ws, "first")
    ws_id = d.ws_id_of(ws)
    reqs = [{"v": 1, "id": i, "op": "checkpoint", "workspace": ws_id, "snapshot": "b%d" % i,
             "message": "burst %d" % i} for i in range(8)]
    res = d.raw_session(reqs, user=ALICE, nreplies=len(reqs))
    d.kill9()  # immediately after the last reply arrived
    assert [r.get("ok") for r in res["replies"]] == [True] * len(reqs), res
    d.start()
    want = ["first"] + ["b%d" % i for i in range(8)]
    assert list_ids(d, ALICE, str(ws)) == want
    assert d.snapshots_on_disk(ws_id) == set(want)
    _one_mount_one_loop(d)


def test_kill9_during_rollbacks_leaves_a_consistent_workspace(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "r1")
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    checkpoint(d, ALICE, ws, "r2")
    ws_id = d.ws_id_of(ws)
    for round_, after in enumerate((1, 2, 3, 4, 6, 9, 12, 15)):
        reqs = [{"v": 1, "id": i, "op": "rollback", "workspace": ws_id,
                 "snapshot": "r1" if i % 2 == 0 else "r2", "discard_current": i % 3 == 0}
                for i in range(20)]
        # fire the requests, kill privd while later ones are being served
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(str(d.sock))
        s.sendall(b"".join(wsck.encode_request(r) for r in reqs))
        buf = b""
        while buf.count(b"\n") < after:
            chunk = s.recv(65536)
            assert chunk, "connection closed early: %r" % buf
            buf += chunk
        d.kill9()
        s.close()
        d.start()
        # reconcile must have resolved any temporary subvolume of the interrupted rollback
        # (DESIGN 4: "leftover temp subvolumes resolved from intent records")
        top_after_restart = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
        # the path resolves to the live subvolume and holds exactly one of the two versions
        assert os.path.islink(ws) and os.path.realpath(ws) == str(d.live_dir(ws_id))
        assert wsck.read_text(ws / "a.txt") in ("v1\n", "v2\n"), round_
        # index and disk agree, no stray subvolumes remain after reconcile
        ids = list_ids(d, ALICE, str(ws))
        assert {"r1", "r2"} <= set(ids)
        assert d.snapshots_on_disk(ws_id) == set(ids), round_
        assert not [e for e in list_json(d, ALICE, str(ws)) if e["meta"]["missing"]]
        _one_mount_one_loop(d)
        # rollbacks work again, with and without keeping the replaced state
        d.cli(["rollback", "-w", ws, "-s", "r2"], user=ALICE)
        assert wsck.read_text(ws / "a.txt") == "v2\n"
        d.cli(["rollback", "-w", ws, "-s", "r1", "--discard-current"], user=ALICE)
        assert wsck.read_text(ws / "a.txt") == "v1\n"
        assert top_after_restart <= {ws_id, "snapshots"}, \
            "round %d: stray subvolumes after reconcile: %s" % (round_, top_after_restart)
        top = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
        assert top <= {ws_id, "snapshots"}, top


def test_clean_restart_reuses_the_image(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "c1", "-m", "kept")
    ws_id = d.ws_id_of(ws)
    wsck.write_as(ALICE, ws / "live.txt", "not snapshotted\n")
    dev = _one_mount_one_loop(d)
    ino = os.stat(d.img).st_ino
    uuid = _fs_uuid(d)
    assert uuid
    lock_pid = int(d.lock_file.read_text().strip())
    assert lock_pid == d.pid
    d.stop()
    assert not d.lock_file.exists(), "daemon.lock left after a clean stop"
    assert not os.path.lexists(d.sock), "socket file left after a clean stop"
    assert wsck.mount_count(d.mnt) == 1, "clean stop should leave the mount attached"
    assert wsck.loops_backing(d.img) == [dev]
    d.start()
    assert os.stat(d.img).st_ino == ino
    assert _fs_uuid(d) == uuid, "filesystem was re-created (mkfs) on restart"
    assert _one_mount_one_loop(d) == dev
    entries = list_json(d, ALICE, str(ws))
    assert [(e["id"], e["meta"]["message"]) for e in entries] == [("c1", "kept")]
    assert wsck.read_text(ws / "live.txt") == "not snapshotted\n"
    assert wsck.read_text(d.snap_dir(ws_id, "c1") / "a.txt") == "v1\n"
    assert int(d.lock_file.read_text().strip()) == d.pid
    # a second clean cycle, this time with the mount gone (as after a reboot)
    d.stop()
    errors = []
    assert wsck.umount_all_under(d.mnt, errors), errors
    for dv in wsck.loops_backing(d.img):
        wsck.run(["losetup", "-d", dv], check=False)
    d.start()
    assert _fs_uuid(d) == uuid
    _one_mount_one_loop(d)
    assert list_ids(d, ALICE, str(ws)) == ["c1"]
    assert wsck.read_text(ws / "live.txt") == "not snapshotted\n"


def test_second_daemon_on_same_state_dir_refuses(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    checkpoint(d, ALICE, ws, "one")
    sock_ino = os.lstat(d.sock).st_ino
    # exactly the same config
    proc, logf = d.spawn()
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("second daemon kept running; log:\n%s" % logf.read_text())
    out = logf.read_text(errors="replace")
    assert rc != 0, out
    assert re.search(r"lock|already running|another instance|in use", out, re.I), out
    # a config that shares only the state dir
    conf2 = d.dir / "second.toml"
    conf2.write_text(d.conf.read_text()
                     .replace(str(d.sock), str(d.dir / "ws2.sock"))
                     .replace('mount_path = "%s"' % d.mnt, 'mount_path = "%s"' % (d.dir / "mnt2")))
    proc2, logf2 = d.spawn(conf=conf2)
    try:
        rc2 = proc2.wait(30)
    except subprocess.TimeoutExpired:
        proc2.kill()
        proc2.wait()
        raise AssertionError("second daemon (other socket) kept running; log:\n%s" %
                             logf2.read_text())
    out2 = logf2.read_text(errors="replace")
    assert rc2 != 0, out2
    assert re.search(r"lock|already running|another instance|in use", out2, re.I), out2
    assert not os.path.lexists(d.dir / "ws2.sock")
    assert wsck.mount_count(d.dir / "mnt2") == 0
    # the first one is untouched and keeps serving
    assert d.running()
    assert os.lstat(d.sock).st_ino == sock_ino
    assert int(d.lock_file.read_text().strip()) == d.pid
    _one_mount_one_loop(d)
    assert list_ids(d, ALICE, str(ws)) == ["one"]
    checkpoint(d, ALICE, ws, "two")
    assert list_ids(d, ALICE, str(ws)) == ["one", "two"]


def test_frontd_exits_when_privd_is_killed(daemon):
    d = daemon
    fpid = d.find_frontd()
    assert fpid and wsck.proc_alive(fpid)
    d.kill9()
    gone = wsck.wait_until(lambda: not wsck.proc_alive(fpid), 5)
    assert gone, "ws-ckpt-frontd %d still running 5 s after privd was killed" % fpid
    # and a new daemon starts on the same state dir
    d.start()
    assert d.raw({"v": 1, "id": 1, "op": "version"})["ok"] is True


def test_privd_handles_frontd_death(daemon):
    """DESIGN §1: when frontd dies privd either restarts it or exits (for systemd)."""
    d = daemon
    fpid = d.find_frontd()
    assert fpid
    os.kill(fpid, signal.SIGKILL)

    def settled():
        if not d.running():
            return "exited"
        nf = d.find_frontd()
        if nf and nf != fpid:
            r = wsck.raw_exchange(str(d.sock), wsck.encode_request(
                {"v": 1, "id": 1, "op": "version"}), timeout=2)
            if r["replies"] and r["replies"][0].get("ok"):
                return "restarted"
        return None

    outcome = wsck.wait_until(settled, 20, interval=0.2)
    assert outcome, "privd neither restarted frontd nor exited; log:\n%s" % d.log_tail()
    if outcome == "exited":
        assert d.proc.returncode != 0
        d.start()
    assert d.raw({"v": 1, "id": 2, "op": "version"})["ok"] is True
