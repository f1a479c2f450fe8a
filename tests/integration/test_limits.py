"""The limits of ws-ckpt.conf(5): init and checkpoint over one are refused with
QuotaExceeded before anything changes, only for the user or workspace at the limit; a
reload applies a new value; 0 means no limit (the connection limits too)."""
import socket

import wsck
from wsck import ALICE, BOB, checkpoint, err_code, init_ws, list_ids


def test_max_snapshots_per_workspace(make_daemon):
    d = make_daemon(extra_conf="max_snapshots_per_workspace = 2")
    ws = d.make_ws(ALICE, {"a.txt": "1\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    wsck.write_as(ALICE, ws / "a.txt", "2\n")
    checkpoint(d, ALICE, ws, "s2")
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(ws), "snapshot": "s3"},
              user=ALICE)
    assert err_code(r) == "QuotaExceeded", r
    assert "max_snapshots_per_workspace = 2" in r["error"]["message"], r
    assert "ws-ckpt delete" in r["error"]["hint"], r
    p = d.cli(["checkpoint", "-w", ws, "-i", "s3"], user=ALICE, check=1)
    assert "max_snapshots_per_workspace" in p.stderr, p.stderr
    assert list_ids(d, ALICE, str(ws)) == ["s1", "s2"]
    assert d.snapshots_on_disk(ws_id) == {"s1", "s2"}
    # a rollback at the limit still keeps what it replaces: refusing would lose work
    wsck.write_as(ALICE, ws / "a.txt", "3, not checkpointed\n")
    p = d.cli(["rollback", "-w", ws, "-s", "s1"], user=ALICE, check=0)
    ids = list_ids(d, ALICE, str(ws))
    assert len(ids) == 3 and ids[:2] == ["s1", "s2"] and ids[2].startswith("auto-"), (ids, p.stdout)
    assert wsck.read_text(d.snap_dir(ws_id, ids[2]) / "a.txt") == "3, not checkpointed\n"
    assert wsck.read_text(ws / "a.txt") == "1\n"  # and the rollback did happen
    # another workspace has its own count
    other = d.make_ws(ALICE, {"b.txt": "b\n"})
    init_ws(d, ALICE, other)
    checkpoint(d, ALICE, other, "o1")
    # room again after deletes; pinned snapshots count like the others
    d.cli(["delete", "-w", ws, "-s", "s2", "--force"], user=ALICE)
    d.cli(["delete", "-w", ws, "-s", ids[2], "--force"], user=ALICE)
    checkpoint(d, ALICE, ws, "s3", "--pin")
    r = d.raw({"v": 1, "id": 2, "op": "checkpoint", "workspace": str(ws), "snapshot": "s4"},
              user=ALICE)
    assert err_code(r) == "QuotaExceeded", r


def test_max_workspaces_per_user_counts_the_owner(make_daemon):
    d = make_daemon(extra_conf="max_workspaces_per_user = 1")
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    second = d.make_ws(ALICE, {"b.txt": "b\n"})
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(second)}, user=ALICE)
    assert err_code(r) == "QuotaExceeded", r
    assert "max_workspaces_per_user = 1" in r["error"]["message"], r
    # refused before anything moved: still Alice's plain directory
    assert not second.is_symlink() and wsck.read_text(second / "b.txt") == "b\n"
    # root initialising Alice's directory does not get round her limit
    r = d.raw({"v": 1, "id": 2, "op": "init", "workspace": str(second)})
    assert err_code(r) == "QuotaExceeded", r
    # Bob is not at his limit
    init_ws(d, BOB, d.make_ws(BOB, {"c.txt": "c\n"}))


def test_reload_applies_a_new_limit(make_daemon):
    d = make_daemon(extra_conf="max_snapshots_per_workspace = 1")
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(ws), "snapshot": "s2"},
              user=ALICE)
    assert err_code(r) == "QuotaExceeded", r
    d.conf.write_text(d.conf.read_text().replace("max_snapshots_per_workspace = 1",
                                                 "max_snapshots_per_workspace = 0"))
    d.cli(["reload"])
    checkpoint(d, ALICE, ws, "s2")
    assert list_ids(d, ALICE, str(ws)) == ["s1", "s2"]
    # and tightening one applies too
    d.conf.write_text(d.conf.read_text().replace("max_snapshots_per_workspace = 0",
                                                 "max_snapshots_per_workspace = 2"))
    d.cli(["reload"])
    r = d.raw({"v": 1, "id": 2, "op": "checkpoint", "workspace": str(ws), "snapshot": "s3"},
              user=ALICE)
    assert err_code(r) == "QuotaExceeded", r


def test_zero_connection_limits_mean_no_limit(make_daemon):
    d = make_daemon(extra_conf="max_connections = 0\nmax_connections_per_uid = 0")
    held = []
    try:
        for _ in range(40):  # more than either default
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d.sock))
            held.append(s)
        r = d.raw({"v": 1, "id": 1, "op": "version"})
        assert r["ok"], r
        s = held[-1]
        s.sendall(b'{"v":1,"id":2,"op":"version"}\n')
        s.settimeout(10)
        assert b'"ok":true' in s.recv(4096)
    finally:
        for s in held:
            s.close()
