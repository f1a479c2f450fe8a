"""cleanup reclaims space before it answers: it kicks the btrfs cleaner and waits for it
(bounded) in a root worker, so a full backend is writable again right after the reply,
and other workspaces are served meanwhile."""
import json
import os
import signal
import threading
import time

import wsck
from wsck import ALICE, BOB, init_ws

BLOB_MIB = 16
MAX_ROUNDS = 200  # a 1 GiB backend is full long before this

# Run as the workspace owner: write BLOB_MIB MiB of incompressible data to blob (one
# unique version per round), checkpoint, until a write fails with ENOSPC. Prints JSON.
FILL = r"""
import errno, json, os, sys
sys.path.insert(0, %(here)r)
import wsck
ws, ws_id, sock, mib, rounds = %(ws)r, %(ws_id)r, %(sock)r, %(mib)d, %(rounds)d
out = {"rounds": 0, "enospc": False, "ckpt_fail": None}

def write_blob():
    with open(os.path.join(ws, "blob"), "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())

for i in range(rounds):
    try:
        write_blob()
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        out["enospc"] = True
        break
    req = {"v": 1, "id": i, "op": "checkpoint", "workspace": ws_id, "snapshot": "f%%03d" %% i}
    r = wsck.raw_exchange(sock, wsck.encode_request(req), 1, 60.0)["replies"]
    if not r or not r[0].get("ok"):
        out["ckpt_fail"] = r
        break
    out["rounds"] = i + 1
print(json.dumps(out))
"""

# Run as the owner: write one blob of the same size; prints "ok" or the error.
WRITE_ONE = r"""
import os
try:
    with open(os.path.join(%(ws)r, "blob"), "wb") as f:
        for _ in range(%(mib)d):
            f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())
    print("ok")
except OSError as e:
    print("error %%d %%s" %% (e.errno, e.strerror))
"""


def fill_until_enospc(d, user, ws, ws_id):
    code = FILL % dict(here=str(wsck.HERE), ws=str(ws), ws_id=ws_id, sock=str(d.sock),
                       mib=BLOB_MIB, rounds=MAX_ROUNDS)
    p = wsck.run_as(user, ["/usr/bin/python3", "-B", "-c", code], timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    print("filled: %r" % out)
    assert out["enospc"], "the backend never filled up: %r" % out
    assert out["rounds"] >= 3, "too few snapshots to prove anything: %r" % out
    return out


def write_one(user, ws):
    code = WRITE_ONE % dict(ws=str(ws), mib=BLOB_MIB)
    p = wsck.run_as(user, ["/usr/bin/python3", "-B", "-c", code], timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def assert_daemon_healthy(d):
    assert d.running(), "ws-ckptd died; log:\n%s" % d.log_tail()
    log = d.log
    assert "killed by signal" not in log and "SIGSYS" not in log, d.log_tail(80)


def cleanup_raw(d, user, ws_id, keep, rid=1):
    return d.raw({"v": 1, "id": rid, "op": "cleanup", "workspace": ws_id, "keep": keep},
                 user=user, timeout=90)


def test_full_backend_is_recoverable_by_cleanup_alone(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    out = fill_until_enospc(d, ALICE, ws, ws_id)
    assert write_one(ALICE, ws).startswith("error %d" % 28), "backend is not full"

    t0 = time.monotonic()
    r = cleanup_raw(d, ALICE, ws_id, 1)
    took = time.monotonic() - t0
    # immediately: no sleep between the reply and the write
    after = write_one(ALICE, ws)
    assert r.get("ok"), r
    res = r["result"]
    space = res["space"]
    print("cleanup removed %d snapshot(s) in %.2fs: space=%r" % (len(res["removed"]), took, space))
    assert len(res["removed"]) == out["rounds"] - 1
    assert after == "ok", "write after cleanup failed: %s (space %r)" % (after, space)
    assert space["cleaner_done"] is True, space
    assert space["pending"] == 0, space
    assert space["freed_bytes"] > 0, space
    # most of the removed versions came back (each was BLOB_MIB MiB of unique data)
    assert space["freed_bytes"] >= (out["rounds"] - 2) * BLOB_MIB * (1 << 20) // 2, space
    assert 0 <= space["waited_ms"] <= 35000, space
    assert wsck.list_ids(d, ALICE, str(ws)) == ["f%03d" % (out["rounds"] - 1)]
    # the workspace is writable again for other operations (no busy left behind)
    wsck.checkpoint(d, ALICE, str(ws), "after")
    assert_daemon_healthy(d)


def test_cleanup_without_victims_has_space_object(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    r = cleanup_raw(d, ALICE, ws_id, 5)
    assert r.get("ok"), r
    assert r["result"]["removed"] == []
    assert r["result"]["space"] == {"freed_bytes": 0, "cleaner_done": True, "waited_ms": 0,
                                    "pending": 0}


def test_other_workspaces_are_served_while_cleanup_waits(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    other = d.make_ws(BOB, {"b.txt": "b\n"})
    other_id = init_ws(d, BOB, other)
    wsck.checkpoint(d, BOB, str(other), "b1")
    fill_until_enospc(d, ALICE, ws, ws_id)

    done = {}

    def run_cleanup():
        t = time.monotonic()
        done["reply"] = cleanup_raw(d, ALICE, ws_id, 0)
        done["t"] = time.monotonic() - t

    th = threading.Thread(target=run_cleanup)
    th.start()
    lat = []
    try:
        while th.is_alive():
            # root, in-process: milliseconds per request, so many land inside the wait
            t = time.monotonic()
            r = d.raw({"v": 1, "id": 2, "op": "list", "workspace": other_id}, timeout=10)
            lat.append(time.monotonic() - t)
            assert r.get("ok"), r
            assert [e["id"] for e in r["result"]["snapshots"]] == ["b1"], r
            time.sleep(0.002)
    finally:
        th.join(120)
    r = done["reply"]
    assert r.get("ok"), r
    space = r["result"]["space"]
    # lists privd answered after the deletes and before the cleanup's answer: while the
    # worker waited for the cleaner (the log line of a request is written when it ends)
    log = d.log
    start = log.index("cleanup of %s: removed" % ws_id)
    end = log.index("op=cleanup", start)
    served = log[start:end].count("op=list")
    print("cleanup took %.2fs (space %r); %d list(s) in all, %d answered during the wait, "
          "max latency %.3fs" % (done["t"], space, len(lat), served, max(lat)))
    assert max(lat) < 2.0, lat
    assert space["cleaner_done"] is True, r
    if space["waited_ms"] >= 100:
        assert served >= 1, "no list was answered during a %d ms wait" % space["waited_ms"]
    assert_daemon_healthy(d)


def test_sigterm_during_cleanup_wait_answers_and_stops(daemon):
    """A graceful stop ends the wait early; the client still gets a well-formed answer
    (or, if the cleaner was quicker, the normal one) and the daemon exits cleanly."""
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    fill_until_enospc(d, ALICE, ws, ws_id)
    done = {}

    def run_cleanup():
        done["reply"] = cleanup_raw(d, ALICE, ws_id, 0)

    th = threading.Thread(target=run_cleanup)
    th.start()
    wsck.wait_until(lambda: "cleanup of %s: removed" % ws_id in d.log, 30, 0.005)
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(20)
    th.join(60)
    r = done["reply"]
    print("reply on SIGTERM: %r" % r)
    assert r.get("ok"), r
    assert set(r["result"]["space"]) == {"freed_bytes", "cleaner_done", "waited_ms", "pending"}
    assert "killed by signal" not in d.log and "SIGSYS" not in d.log, d.log_tail(80)
    # the deletes are durable whatever the wait did
    d.start()
    assert wsck.list_ids(d, ALICE, str(ws)) == []


def test_auto_cleanup_kicks_the_cleaner(make_daemon):
    """Auto-cleanup has no client to answer; its reclaim worker logs what came back."""
    d = make_daemon(extra_conf="auto_cleanup = true\nauto_cleanup_keep = 1\n"
                               "auto_cleanup_interval_secs = 2")
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    for i in range(4):
        p = wsck.run_as(ALICE, ["/bin/sh", "-ec",
                                'head -c 8388608 /dev/urandom > "$1/blob"', "sh", str(ws)])
        assert p.returncode == 0, p.stderr
        wsck.checkpoint(d, ALICE, str(ws), "a%d" % i)
    assert wsck.wait_until(lambda: "auto-cleanup: " in d.log and "bytes freed" in d.log, 30), \
        d.log_tail()
    line = [l for l in d.log.splitlines() if "auto-cleanup: " in l and "bytes freed" in l][0]
    print(line)
    assert wsck.wait_until(lambda: wsck.list_ids(d, ALICE, str(ws)) == ["a3"], 10)
    assert_daemon_healthy(d)


def test_reload_without_change_does_not_postpone_auto_cleanup(make_daemon):
    """A reload that leaves the cleanup settings alone keeps the timer running: reloading
    more often than the interval must not keep postponing every run."""
    d = make_daemon(extra_conf="auto_cleanup = true\nauto_cleanup_keep = 1\n"
                               "auto_cleanup_interval_secs = 2")
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    for i in range(3):
        wsck.write_as(ALICE, ws / "a.txt", "v%d\n" % i)
        wsck.checkpoint(d, ALICE, str(ws), "r%d" % i)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and wsck.list_ids(d, ALICE, str(ws)) != ["r2"]:
        d.cli(["reload"])
        time.sleep(0.4)
    assert wsck.list_ids(d, ALICE, str(ws)) == ["r2"], d.log_tail()
    assert d.log.count("auto-cleanup every") == 1, d.log_tail()


def _stalled_daemon(make_flex_daemon, wait_ms):
    """Test build whose reclaim worker sees a cleaner that never finishes
    (WSCKPT_TEST_RECLAIM_STALL), with the wait bound set to wait_ms."""
    assert wsck.TEST_BUILD.joinpath("ws-ckptd").exists(), "run `make testbins`"
    return make_flex_daemon(bin_dir=wsck.TEST_BUILD,
                            env_extra={"WSCKPT_TEST_RECLAIM_STALL": "1",
                                       "WSCKPT_TEST_RECLAIM_WAIT_MS": str(wait_ms)})


def _three_snapshots(d):
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    for i in range(3):
        wsck.write_as(ALICE, ws / "a.txt", "v%d\n" % i)
        wsck.checkpoint(d, ALICE, ws, "s%d" % i)
    return ws, ws_id


def test_cleanup_wait_is_bounded(make_flex_daemon):
    """A cleaner that does not finish: cleanup answers when the bound expires, says how
    many removed subvolumes are still pending, and the CLI warns instead of claiming."""
    d = _stalled_daemon(make_flex_daemon, 1500)
    ws, ws_id = _three_snapshots(d)
    t0 = time.monotonic()
    r = cleanup_raw(d, ALICE, ws_id, 1)
    took = time.monotonic() - t0
    assert r.get("ok"), r
    sp = r["result"]["space"]
    assert sorted(r["result"]["removed"]) == ["s0", "s1"]
    assert sp["cleaner_done"] is False and sp["pending"] == 2, sp
    assert 1500 <= sp["waited_ms"] < 10000, sp
    assert 1.4 <= took < 15, took
    # meanwhile-free: the workspace was not held busy
    wsck.checkpoint(d, ALICE, ws, "after")
    p = d.cli(["cleanup", "-w", ws, "--keep", "0"], user=ALICE)
    assert "still reclaiming space from 2 deleted snapshot(s)" in p.stderr, p.stderr
    assert "Freed" not in p.stdout, p.stdout
    assert_daemon_healthy(d)


def test_sigterm_ends_a_long_cleanup_wait(make_flex_daemon):
    """With a 60 s bound and a cleaner that never finishes, SIGTERM ends the wait: the
    client gets its answer (pending > 0) and the daemon stops well inside its 10 s drain."""
    d = _stalled_daemon(make_flex_daemon, 60000)
    ws, ws_id = _three_snapshots(d)
    done = {}

    def run_cleanup():
        done["reply"] = cleanup_raw(d, ALICE, ws_id, 0)

    th = threading.Thread(target=run_cleanup)
    th.start()
    assert wsck.wait_until(lambda: "cleanup of %s: removed" % ws_id in d.log, 30, 0.01)
    time.sleep(0.5)  # the worker is now in its wait
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(30)
    stopped = time.monotonic() - t0
    th.join(30)
    assert rc == 0, d.log_tail(60)
    assert stopped < 8, "stop took %.1f s" % stopped
    r = done.get("reply")
    assert r and r.get("ok"), r
    sp = r["result"]["space"]
    assert sp["cleaner_done"] is False and sp["pending"] == 3, sp
    assert sp["waited_ms"] < 10000, sp
    assert "killed by signal" not in d.log and "SIGSYS" not in d.log, d.log_tail(80)
