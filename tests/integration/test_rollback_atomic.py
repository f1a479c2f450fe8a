"""Rollback is atomic: a concurrent reader never sees the workspace missing or mixed."""
import json
import os
import subprocess
import time

import wsck
from wsck import ALICE, checkpoint, list_ids


def _setup(d):
    ws = d.make_ws(ALICE, wsck.version_files("v1"))
    checkpoint(d, ALICE, ws, "sv1")
    for n in wsck.version_files("v1"):
        assert wsck.run_as(ALICE, ["rm", str(ws / n)]).returncode == 0
    for n, c in wsck.version_files("v2").items():
        wsck.write_as(ALICE, ws / n, c)
    checkpoint(d, ALICE, ws, "sv2")
    return ws, d.ws_id_of(ws)


def _start_reader(d, ws, mode):
    stop = d.dir / ("stop-reader-" + wsck.rand_name())
    pw = wsck.user_info(ALICE)
    proc = subprocess.Popen(["/usr/bin/python3", "-B", str(wsck.HERE / "wsck.py"), "reader",
                             str(ws), str(stop), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd="/", env=wsck.user_env(ALICE),
                            user=pw.pw_uid, group=pw.pw_gid,
                            extra_groups=wsck.user_groups(ALICE))
    line = proc.stdout.readline()
    assert line == "ready\n", "reader did not start: %r %s" % (line, proc.stderr.read())
    return proc, stop


def _stop_reader(proc, stop):
    stop.write_text("stop\n")
    try:
        out, errout = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, errout = proc.communicate()
        raise AssertionError("reader did not stop")
    assert proc.returncode == 0, errout
    return json.loads(out.strip().splitlines()[-1])


def _rollbacks(d, ws, n, discard):
    for i in range(n):
        target = "sv1" if i % 2 == 0 else "sv2"
        args = ["rollback", "-w", ws, "-s", target] + (["--discard-current"] if discard else [])
        p = d.cli(args, user=ALICE)
        assert "to snapshot: %s" % target in p.stdout
        tag = "v1" if target == "sv1" else "v2"
        assert wsck.read_text(ws / "a.txt") == tag + "\n"
        time.sleep(0.02)


def test_rollback_never_exposes_missing_or_mixed_workspace(daemon):
    d = daemon
    ws, ws_id = _setup(d)
    proc, stop = _start_reader(d, ws, "strict")
    try:
        _rollbacks(d, ws, 50, discard=False)
    finally:
        stats = _stop_reader(proc, stop)
    print("reader stats:", stats)
    assert stats["nerrors"] == 0, stats
    assert stats["iters"] > 50, stats
    assert stats["seen"].get("v1", 0) > 0 and stats["seen"].get("v2", 0) > 0, stats
    assert set(stats["seen"]) == {"v1", "v2"}, stats
    ids = list_ids(d, ALICE, str(ws))
    autos = [i for i in ids if wsck.AUTO_ID_RE.fullmatch(i)]
    assert len(autos) == 50 and len(set(autos)) == 50, ids
    assert d.snapshots_on_disk(ws_id) == set(ids)
    top = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
    assert top <= {ws_id, "snapshots"}, "stray subvolumes at the mount's top: %s" % top
    assert os.path.realpath(ws) == str(d.live_dir(ws_id))


def test_rollback_discard_current_never_exposes_missing_path(daemon):
    d = daemon
    ws, ws_id = _setup(d)
    proc, stop = _start_reader(d, ws, "path")
    try:
        _rollbacks(d, ws, 30, discard=True)
    finally:
        stats = _stop_reader(proc, stop)
    print("reader stats:", stats)
    assert stats["nerrors"] == 0, stats
    assert stats["seen"].get("v1", 0) > 0 and stats["seen"].get("v2", 0) > 0, stats
    assert list_ids(d, ALICE, str(ws)) == ["sv1", "sv2"]
    assert d.snapshots_on_disk(ws_id) == {"sv1", "sv2"}
    top = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
    assert top <= {ws_id, "snapshots"}, "stray subvolumes at the mount's top: %s" % top
