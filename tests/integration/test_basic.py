"""Basic CLI behaviour of ws-ckpt against a real daemon, as a non-root owner."""
import json
import os
import re
import stat

import wsck
from wsck import ALICE, BOB, init_ws, checkpoint, list_json, list_ids, status_json, err_code

CREATED_AT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_version(daemon):
    p = daemon.cli(["version"])
    assert "0.1.0" in p.stdout
    r = daemon.raw({"v": 1, "id": 3, "op": "version"})
    assert r == {"id": 3, "ok": True, "result": r["result"]}
    assert r["result"]["daemon_version"] == "0.1.0"
    assert r["result"]["protocol"] == 1


def test_socket_option_and_no_daemon(daemon):
    ws = daemon.make_ws(ALICE)
    init_ws(daemon, ALICE, ws)
    # -S SOCKET without the environment variable
    p = daemon.cli(["-S", daemon.sock, "list", "--format", "json"], user=ALICE, socket_env=False)
    assert json.loads(p.stdout) == []
    # a socket path with nobody behind it: exit 1, says the daemon is not running
    p = daemon.cli(["list"], user=ALICE, check=1,
                   env_extra={"WS_CKPT_SOCKET": str(daemon.dir / "nobody.sock")})
    assert "not running" in p.stderr.lower(), p.stderr


def test_lifecycle_as_owner(daemon):
    d = daemon
    alice = wsck.user_info(ALICE)
    ws = d.make_ws(ALICE, {"a.txt": "v1\n", "sub/b.txt": "b1\n", "gone.txt": "gone\n"})

    ws_id = init_ws(d, ALICE, ws)
    assert wsck.WS_ID_RE.fullmatch(ws_id)
    live = d.live_dir(ws_id)
    assert os.path.islink(ws), "workspace path is not a symlink after init"
    assert os.path.realpath(ws) == str(live)
    assert wsck.is_subvolume(live)
    assert os.stat(live).st_uid == alice.pw_uid, "live subvolume not owned by the caller"
    assert wsck.read_text(ws / "a.txt") == "v1\n"
    assert wsck.read_text(ws / "sub/b.txt") == "b1\n"
    st = d.state()
    assert st["version"] == 1
    [w] = [w for w in st["workspaces"] if w["ws_id"] == ws_id]
    assert w["workspace_path"] == str(ws)
    assert w["owner_uid"] == alice.pw_uid

    checkpoint(d, ALICE, ws, "s1", "-m", "first")
    s1 = d.snap_dir(ws_id, "s1")
    assert wsck.is_subvolume(s1) and wsck.subvol_readonly(s1)
    assert wsck.read_text(s1 / "a.txt") == "v1\n"

    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    wsck.write_as(ALICE, ws / "new.txt", "new\n")
    assert wsck.run_as(ALICE, ["rm", str(ws / "gone.txt")]).returncode == 0
    checkpoint(d, ALICE, ws, "s2", "--metadata", '{"tool":"write","n":2}')
    wsck.write_as(ALICE, ws / "a.txt", "v3\n")

    entries = list_json(d, ALICE, str(ws))
    assert [e["id"] for e in entries] == ["s1", "s2"]
    e1, e2 = entries
    for e in entries:
        assert e["workspace"] == str(ws)
        assert set(e["meta"]) >= {"message", "metadata", "pinned", "created_at", "missing"}
        assert e["meta"]["pinned"] is False and e["meta"]["missing"] is False
        assert CREATED_AT_RE.match(e["meta"]["created_at"]), e["meta"]["created_at"]
    assert e1["meta"]["message"] == "first" and e1["meta"]["metadata"] is None
    assert e2["meta"]["message"] is None
    assert e2["meta"]["metadata"] == {"tool": "write", "n": 2}
    idx = d.index(ws_id)
    assert idx["workspace_path"] == str(ws)
    assert set(idx["snapshots"]) == {"s1", "s2"}

    table = d.cli(["list", "-w", ws], user=ALICE).stdout
    assert "SNAPSHOT" in table and "WORKSPACE" in table
    assert re.search(r"^\S*\s+s1\s+.*first\s*$", table, re.M), table
    assert re.search(r"^\S*\s+s2\s", table, re.M), table
    assert table.rstrip().splitlines()[-1] == "Total: 2 snapshot(s)", table

    # rollback keeps the replaced state as an automatic snapshot
    p = d.cli(["rollback", "-w", ws, "-s", "s1"], user=ALICE)
    assert "Rolled back workspace %s to snapshot: s1" % ws_id in p.stdout, p.stdout
    m = re.search(r"Previous state saved as snapshot: (\S+)", p.stdout)
    assert m, p.stdout
    auto = m.group(1)
    assert wsck.AUTO_ID_RE.fullmatch(auto), auto
    assert os.path.islink(ws) and os.path.realpath(ws) == str(live)
    assert wsck.read_text(ws / "a.txt") == "v1\n"
    assert wsck.read_text(ws / "gone.txt") == "gone\n"
    assert not os.path.exists(ws / "new.txt")
    assert wsck.read_text(ws / "sub/b.txt") == "b1\n"
    assert list_ids(d, ALICE, str(ws)) == ["s1", "s2", auto]
    assert wsck.is_subvolume(d.snap_dir(ws_id, auto))
    assert wsck.subvol_readonly(d.snap_dir(ws_id, auto))
    assert wsck.read_text(d.snap_dir(ws_id, auto) / "a.txt") == "v3\n"
    # the rolled-back workspace is writable by its owner
    wsck.write_as(ALICE, ws / "a.txt", "v4\n")
    assert os.stat(live).st_uid == alice.pw_uid

    # --discard-current: no automatic snapshot
    p = d.cli(["rollback", "-w", ws, "-s", "s2", "--discard-current"], user=ALICE)
    assert "Rolled back workspace %s to snapshot: s2" % ws_id in p.stdout
    assert "Previous state saved" not in p.stdout
    assert wsck.read_text(ws / "a.txt") == "v2\n"
    assert wsck.read_text(ws / "new.txt") == "new\n"
    assert not os.path.exists(ws / "gone.txt")
    assert list_ids(d, ALICE, str(ws)) == ["s1", "s2", auto]
    assert d.snapshots_on_disk(ws_id) == {"s1", "s2", auto}

    # delete removes the subvolume and the index entry
    p = d.cli(["delete", "-w", ws, "-s", "s1", "--force"], user=ALICE)
    assert "Deleted: s1" in p.stdout
    assert not os.path.lexists(d.snap_dir(ws_id, "s1"))
    assert "s1" not in d.index(ws_id)["snapshots"]
    # global lookup (no -w)
    d.cli(["delete", "-s", auto, "--force"], user=ALICE)
    assert not os.path.lexists(d.snap_dir(ws_id, auto))
    assert list_ids(d, ALICE, str(ws)) == ["s2"]
    assert d.snapshots_on_disk(ws_id) == {"s2"}

    st = status_json(d, ALICE)
    [w] = [w for w in st["workspaces"] if w["ws_id"] == ws_id]
    assert w["path"] == str(ws) and w["owner_uid"] == alice.pw_uid
    assert w["snapshot_count"] == 1 and w["missing_count"] == 0

    # the table of a workspace without snapshots
    d.cli(["delete", "-w", ws, "-s", "s2", "--force"], user=ALICE)
    out = d.cli(["list", "-w", ws], user=ALICE).stdout
    assert "No snapshots found." in out


def test_init_preserves_content(daemon):
    d = daemon
    alice = wsck.user_info(ALICE)
    ws = d.make_ws(ALICE, {"a.txt": "aaa\n", "script.sh": "#!/bin/sh\n", "h1": "hard\n",
                           "deep/er/c.txt": "c\n"})
    os.chmod(ws / "a.txt", 0o640)
    os.chmod(ws / "script.sh", 0o755)
    os.link(ws / "h1", ws / "h2")
    os.symlink("a.txt", ws / "rel-link")
    os.symlink("no/such/target", ws / "dangling")
    os.mkdir(ws / "emptydir", 0o700)
    os.chmod(ws, 0o750)
    for n in ("rel-link", "dangling", "emptydir"):
        os.lchown(ws / n, alice.pw_uid, alice.pw_gid)
    os.utime(ws / "a.txt", (1000000000, 1000000000))
    try:
        os.setxattr(ws / "a.txt", "user.wsck", b"xattr-value")
        have_xattr = True
    except OSError:
        have_xattr = False
    before = {n: os.lstat(ws / n) for n in ("a.txt", "script.sh", "emptydir")}

    ws_id = init_ws(d, ALICE, ws)
    live = d.live_dir(ws_id)
    assert stat.S_IMODE(os.stat(live).st_mode) == 0o750, "workspace root mode not preserved"
    for n, st in before.items():
        now = os.lstat(live / n)
        assert stat.S_IMODE(now.st_mode) == stat.S_IMODE(st.st_mode), n
        assert now.st_uid == alice.pw_uid and now.st_gid == alice.pw_gid, n
    assert os.lstat(live / "a.txt").st_mtime == 1000000000
    assert os.readlink(live / "rel-link") == "a.txt"
    assert os.readlink(live / "dangling") == "no/such/target"
    assert os.lstat(live / "dangling").st_uid == alice.pw_uid
    h1, h2 = os.lstat(live / "h1"), os.lstat(live / "h2")
    assert h1.st_ino == h2.st_ino and h1.st_nlink == 2, "hardlink not preserved"
    assert wsck.read_text(live / "deep/er/c.txt") == "c\n"
    assert os.listdir(live / "emptydir") == []
    if have_xattr:
        assert os.getxattr(live / "a.txt", "user.wsck") == b"xattr-value"


def test_init_is_idempotent(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    ws_id = init_ws(d, ALICE, ws)
    p = d.cli(["init", "-w", ws], user=ALICE)
    assert ws_id in p.stdout
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(ws)}, user=ALICE)
    assert r["ok"] is True, r
    assert r["result"]["ws_id"] == ws_id
    assert r["result"]["already_initialized"] is True
    regs = [w for w in d.state()["workspaces"] if w["workspace_path"] == str(ws)]
    assert len(regs) == 1
    assert [n for n in os.listdir(d.mnt) if wsck.WS_ID_RE.fullmatch(n)] == [ws_id]
    assert wsck.read_text(ws / "hello.txt") == "hello\n"


def test_checkpoint_initializes_unregistered_dir(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f.txt": "one\n"})
    checkpoint(d, ALICE, ws, "c1")
    assert os.path.islink(ws)
    ws_id = d.ws_id_of(ws)
    assert wsck.is_subvolume(d.snap_dir(ws_id, "c1"))
    assert wsck.read_text(d.snap_dir(ws_id, "c1") / "f.txt") == "one\n"
    assert list_ids(d, ALICE, str(ws)) == ["c1"]
    # the raw reply says so
    ws2 = d.make_ws(ALICE, {"g.txt": "two\n"})
    r = d.raw({"v": 1, "id": 2, "op": "checkpoint", "workspace": str(ws2), "snapshot": "c1"},
              user=ALICE)
    assert r["ok"] is True, r
    assert r["result"]["initialized"] is True and r["result"]["skipped"] is False
    assert r["result"]["ws_id"] == d.ws_id_of(ws2)


def test_empty_workspace_is_skipped(daemon):
    d = daemon
    ws = d.make_ws(ALICE, empty=True)
    p = d.cli(["checkpoint", "-w", ws, "-i", "e1"], user=ALICE)
    assert "Empty workspace" in p.stderr, (p.stdout, p.stderr)
    assert not [e for e in list_json(d, ALICE) if e["id"] == "e1"]
    # an initialised workspace that became empty
    ws2 = d.make_ws(ALICE, {"only.txt": "x\n"})
    ws_id2 = init_ws(d, ALICE, ws2)
    assert wsck.run_as(ALICE, ["rm", str(ws2 / "only.txt")]).returncode == 0
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(ws2), "snapshot": "e2"},
              user=ALICE)
    assert r["ok"] is True, r
    assert r["result"]["skipped"] is True and r["result"].get("reason") == "empty"
    assert list_ids(d, ALICE, str(ws2)) == []
    assert d.snapshots_on_disk(ws_id2) == set()


def test_duplicate_snapshot_id(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "dup", "-m", "original")
    ws_id = d.ws_id_of(ws)
    created = d.index(ws_id)["snapshots"]["dup"]["created_at"]
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    p = d.cli(["checkpoint", "-w", ws, "-i", "dup"], user=ALICE, check=1)
    assert "✗" in p.stderr or "SnapshotAlreadyExists" in p.stderr, p.stderr
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(ws), "snapshot": "dup"},
              user=ALICE)
    assert err_code(r) == "SnapshotAlreadyExists"
    assert wsck.read_text(d.snap_dir(ws_id, "dup") / "a.txt") == "v1\n"
    snap = d.index(ws_id)["snapshots"]["dup"]
    assert snap["created_at"] == created and snap["message"] == "original"
    assert list_ids(d, ALICE, str(ws)) == ["dup"]


def test_rollback_discard_current_leaves_no_auto_snapshot(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "r1")
    ws_id = d.ws_id_of(ws)
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    r = d.raw({"v": 1, "id": 1, "op": "rollback", "workspace": str(ws), "snapshot": "r1",
               "discard_current": True}, user=ALICE)
    assert r["ok"] is True, r
    assert r["result"]["auto_snapshot"] is None
    assert wsck.read_text(ws / "a.txt") == "v1\n"
    assert list_ids(d, ALICE, str(ws)) == ["r1"]
    assert d.snapshots_on_disk(ws_id) == {"r1"}
    # a plain rollback reports and lists its automatic snapshot
    wsck.write_as(ALICE, ws / "a.txt", "v3\n")
    r = d.raw({"v": 1, "id": 2, "op": "rollback", "workspace": str(ws), "snapshot": "r1"},
              user=ALICE)
    assert r["ok"] is True, r
    auto = r["result"]["auto_snapshot"]
    assert isinstance(auto, str) and wsck.AUTO_ID_RE.fullmatch(auto), auto
    assert list_ids(d, ALICE, str(ws)) == ["r1", auto]
    assert d.snapshots_on_disk(ws_id) == {"r1", auto}
    assert wsck.read_text(d.snap_dir(ws_id, auto) / "a.txt") == "v3\n"
    # no stray temporary subvolumes left at the top of the mount
    top = {n for n in os.listdir(d.mnt) if wsck.is_subvolume(d.mnt / n)}
    assert top <= {ws_id, "snapshots"}, top


def test_relative_path_and_ws_id_addressing(daemon):
    d = daemon
    home = wsck.user_info(ALICE).pw_dir
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    name = ws.name
    d.cli(["init", "-w", "./" + name], user=ALICE, cwd=home)
    ws_id = d.ws_id_of(ws)  # registered under the absolute path
    d.cli(["checkpoint", "-w", "./" + name + "/", "-i", "r1"], user=ALICE, cwd=home)
    d.cli(["checkpoint", "-w", os.path.join(os.path.basename(home), name), "-i", "r2"],
          user=ALICE, cwd=os.path.dirname(home))
    wsck.write_as(ALICE, ws / "a.txt", "v2\n")
    d.cli(["checkpoint", "-w", ws_id, "-i", "r3"], user=ALICE)
    assert list_ids(d, ALICE, ws_id) == ["r1", "r2", "r3"]
    assert [e["id"] for e in list_json(d, ALICE, str(ws))] == ["r1", "r2", "r3"]
    p = d.cli(["list", "--format", "json", "-w", "./" + name], user=ALICE, cwd=home)
    assert [e["id"] for e in json.loads(p.stdout)] == ["r1", "r2", "r3"]
    p = d.cli(["rollback", "-w", ws_id, "-s", "r1", "--discard-current"], user=ALICE)
    assert "Rolled back workspace %s to snapshot: r1" % ws_id in p.stdout
    assert wsck.read_text(ws / "a.txt") == "v1\n"
    st = status_json(d, ALICE, ws_id)
    assert [w["ws_id"] for w in st["workspaces"]] == [ws_id]
    d.cli(["delete", "-w", ws_id, "-s", "r3", "--force"], user=ALICE)
    assert list_ids(d, ALICE, str(ws)) == ["r1", "r2"]
    # protocol-level normalisation: duplicate '/', '.', trailing '/', the live subvolume path
    for ref in ("%s//%s/" % (home, name), "%s/./%s" % (home, name), str(d.live_dir(ws_id))):
        r = d.raw({"v": 1, "id": 1, "op": "list", "workspace": ref}, user=ALICE)
        assert r["ok"] is True, (ref, r)
        assert [s["id"] for s in r["result"]["snapshots"]] == ["r1", "r2"], ref
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(d.live_dir(ws_id)),
               "snapshot": "via-live"}, user=ALICE)
    assert r["ok"] is True and r["result"]["ws_id"] == ws_id, r
    d.cli(["delete", "-w", ws_id, "-s", "via-live", "--force"], user=ALICE)
    # '..' is refused, never resolved
    r = d.raw({"v": 1, "id": 1, "op": "list", "workspace": "%s/x/../%s" % (home, name)},
              user=ALICE)
    assert r["ok"] is False, r


def test_not_found_errors(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    ws_id = init_ws(d, ALICE, ws)
    p = d.cli(["rollback", "-w", ws, "-s", "nope"], user=ALICE, check=1)
    assert "✗" in p.stderr or "SnapshotNotFound" in p.stderr
    p = d.cli(["delete", "-w", ws, "-s", "nope", "--force"], user=ALICE, check=1)
    r = d.raw({"v": 1, "id": 1, "op": "rollback", "workspace": ws_id, "snapshot": "nope"},
              user=ALICE)
    assert err_code(r) == "SnapshotNotFound"
    other = "ws-000000" if ws_id != "ws-000000" else "ws-000001"
    r = d.raw({"v": 1, "id": 1, "op": "list", "workspace": other}, user=ALICE)
    assert err_code(r) == "WorkspaceNotFound"
    d.cli(["list", "-w", other], user=ALICE, check=1)
    d.cli(["rollback", "-w", other, "-s", "x"], user=ALICE, check=1)


# ---------------------------------------------------------------- init refusals

def _assert_init_refused(d, user, path, codes, cli=True):
    ws_before = [w["ws_id"] for w in d.state().get("workspaces", [])]
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(path)}, user=user, timeout=60)
    assert r.get("ok") is False and r["error"]["code"] in codes, (path, r)
    if cli:
        d.cli(["init", "-w", path], user=user, check=1)
    assert [w["ws_id"] for w in d.state().get("workspaces", [])] == ws_before


def test_init_refuses_root_dir(daemon):
    _assert_init_refused(daemon, None, "/", {"InvalidPath"})
    assert not os.path.islink("/")


def test_init_refuses_regular_file(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    f = ws / "hello.txt"
    _assert_init_refused(d, ALICE, f, {"InvalidPath"})
    assert not os.path.islink(f) and wsck.read_text(f) == "hello\n"


def test_init_refuses_inside_mount_and_state_dir(daemon):
    d = daemon
    # nested inside a live workspace (the owner's own directory, inside the mount)
    ws = d.make_ws(ALICE, {"sub/x.txt": "x\n"})
    init_ws(d, ALICE, ws)
    _assert_init_refused(d, ALICE, ws / "sub", {"InvalidPath"})
    assert os.path.isdir(ws / "sub") and not os.path.islink(ws / "sub")
    assert wsck.read_text(ws / "sub/x.txt") == "x\n"
    # root asking for directories inside the mount path and the state dir
    inmnt = d.mnt / "rootdir"
    os.mkdir(inmnt)
    (inmnt / "f").write_text("f\n")
    _assert_init_refused(d, None, inmnt, {"InvalidPath"})
    assert os.path.isdir(inmnt) and not os.path.islink(inmnt)
    instate = d.state_dir / "somedir"
    os.mkdir(instate)
    (instate / "f").write_text("f\n")
    _assert_init_refused(d, None, instate, {"InvalidPath"})
    assert os.path.isdir(instate) and not os.path.islink(instate)
    _assert_init_refused(d, None, d.state_dir, {"InvalidPath"}, cli=False)
    _assert_init_refused(d, None, d.mnt, {"InvalidPath"}, cli=False)


def test_init_refuses_dir_of_another_user(daemon):
    d = daemon
    bobs = d.make_ws(BOB, {"secret.txt": "bob\n"})
    _assert_init_refused(d, ALICE, bobs, {"PermissionDenied", "InvalidPath"})
    assert os.path.isdir(bobs) and not os.path.islink(bobs)
    assert wsck.read_text(bobs / "secret.txt") == "bob\n"
    assert os.stat(bobs).st_uid == wsck.user_info(BOB).pw_uid


def test_init_refuses_mount_point(daemon):
    d = daemon
    alice = wsck.user_info(ALICE)
    ws = d.make_ws(ALICE, empty=True)
    wsck.run(["mount", "-t", "tmpfs", "-o", "size=1m,uid=%d,gid=%d,mode=0755" %
              (alice.pw_uid, alice.pw_gid), "wsck-tmpfs", ws])
    d.extra_mounts.append(ws)
    wsck.write_as(ALICE, ws / "inside.txt", "in tmpfs\n")
    _assert_init_refused(d, ALICE, ws, {"InvalidPath"})
    assert wsck.mount_count(ws) == 1
    assert wsck.read_text(ws / "inside.txt") == "in tmpfs\n"


def test_init_refuses_symlink(daemon):
    d = daemon
    target = d.make_ws(ALICE)
    link = d.track(target.parent / ("lnk-" + wsck.rand_name()))
    os.symlink(target, link)
    os.lchown(link, wsck.user_info(ALICE).pw_uid, wsck.user_info(ALICE).pw_gid)
    _assert_init_refused(d, ALICE, link, {"InvalidPath"}, cli=False)
    assert os.path.isdir(target) and not os.path.islink(target)


def test_delete_without_force_and_without_tty(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    checkpoint(d, ALICE, ws, "keep")
    ws_id = d.ws_id_of(ws)
    p = d.cli(["delete", "-w", ws, "-s", "keep"], user=ALICE, check=1)
    assert "Deleted" not in p.stdout
    assert wsck.is_subvolume(d.snap_dir(ws_id, "keep"))
    assert list_ids(d, ALICE, str(ws)) == ["keep"]
    r = d.raw({"v": 1, "id": 1, "op": "delete", "workspace": str(ws), "snapshot": "keep"},
              user=ALICE)
    assert err_code(r) == "ConfirmationRequired"
    assert wsck.is_subvolume(d.snap_dir(ws_id, "keep"))
    assert "keep" in d.index(ws_id)["snapshots"]


def test_auto_snapshot_name_follows_protocol(daemon):
    """PROTOCOL.md: the kept state is named auto-<UTC yyyymmddThhmmss>[-n]; rollbacks
    within the same second still get distinct names."""
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v1\n"})
    checkpoint(d, ALICE, ws, "n1")
    autos = []
    for i in range(3):
        wsck.write_as(ALICE, ws / "a.txt", "x%d\n" % i)
        r = d.raw({"v": 1, "id": i, "op": "rollback", "workspace": str(ws), "snapshot": "n1"},
                  user=ALICE)
        assert r["ok"] is True, r
        autos.append(r["result"]["auto_snapshot"])
    assert len(set(autos)) == 3, autos
    assert all(wsck.AUTO_ID_STRICT_RE.fullmatch(a) for a in autos), autos


# ---------------------------------------------------------------- init edge cases

def _no_half_state(d, path, files):
    """After a refused/failed init: original directory intact, nothing registered or left."""
    assert os.path.isdir(path) and not os.path.islink(path), "original directory replaced"
    for rel, content in files.items():
        assert (path / rel).read_text() == content, rel
    # privd replies before it drops the failed registration (op_init.c init_done), so allow
    # the cleanup a moment to land in state.json
    def registered():
        return [w for w in d.state().get("workspaces", []) if w["workspace_path"] == str(path)]
    wsck.wait_until(lambda: not registered(), 2)
    assert registered() == []
    left = [n for n in os.listdir(d.mnt) if n not in ("snapshots",)]
    assert left == [], "leftovers in the data root: %s" % left


def test_init_keeps_symlinks_verbatim_never_follows_them(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    for name, target in (("shadow", "/etc/shadow"), ("rootdir", "/root"), ("up", "../..")):
        os.symlink(target, ws / name)
        os.lchown(ws / name, wsck.user_info(ALICE).pw_uid, wsck.user_info(ALICE).pw_gid)
    ws_id = init_ws(d, ALICE, ws)
    live = d.live_dir(ws_id)
    for name, target in (("shadow", "/etc/shadow"), ("rootdir", "/root"), ("up", "../..")):
        assert os.path.islink(live / name) and os.readlink(live / name) == target, name
    checkpoint(d, ALICE, ws, "c1")
    assert os.readlink(d.snap_dir(ws_id, "c1") / "shadow") == "/etc/shadow"


def test_init_with_fifo_does_not_hang(daemon):
    d = daemon
    files = {"a.txt": "a\n"}
    ws = d.make_ws(ALICE, files)
    os.mkfifo(ws / "fifo", 0o640)
    os.lchown(ws / "fifo", wsck.user_info(ALICE).pw_uid, wsck.user_info(ALICE).pw_gid)
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(ws)}, user=ALICE, timeout=30)
    if r.get("ok"):
        live = d.live_dir(r["result"]["ws_id"])
        assert stat.S_ISFIFO(os.lstat(live / "fifo").st_mode), "FIFO not preserved"
        assert wsck.read_text(ws / "a.txt") == "a\n"
    else:
        _no_half_state(d, ws, files)
    assert d.raw({"v": 1, "id": 2, "op": "version"}, user=BOB)["ok"] is True


def test_init_failure_leaves_no_half_state_unreadable_file(daemon):
    """The copy runs as the owner: a file the owner cannot read makes init fail cleanly
    (or be copied faithfully) -- never a half-converted directory."""
    d = daemon
    files = {"a.txt": "a\n", "sub/b.txt": "b\n"}
    ws = d.make_ws(ALICE, dict(files, **{"locked.txt": "locked\n"}))
    os.chmod(ws / "locked.txt", 0)
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(ws)}, user=ALICE, timeout=30)
    if r.get("ok"):
        live = d.live_dir(r["result"]["ws_id"])
        assert (live / "locked.txt").read_text() == "locked\n"
        assert stat.S_IMODE(os.lstat(live / "locked.txt").st_mode) == 0
    else:
        _no_half_state(d, ws, dict(files, **{"locked.txt": "locked\n"}))
    # the daemon is fine afterwards and a normal init works
    ws2 = d.make_ws(ALICE)
    init_ws(d, ALICE, ws2)


def test_init_failure_leaves_no_half_state_parent_not_writable(daemon):
    """The owner cannot replace a directory in a parent it may not write to."""
    d = daemon
    alice = wsck.user_info(ALICE)
    parent = d.track(os.path.join(alice.pw_dir, "rootparent-" + wsck.rand_name()))
    os.mkdir(parent, 0o755)  # root-owned
    files = {"a.txt": "a\n"}
    ws = parent / "ws"
    os.mkdir(ws)
    (ws / "a.txt").write_text("a\n")
    for p in (ws, ws / "a.txt"):
        os.chown(p, alice.pw_uid, alice.pw_gid)
    r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(ws)}, user=ALICE, timeout=30)
    assert r.get("ok") is False, "init replaced a directory inside a root-owned parent: %r" % r
    _no_half_state(d, ws, files)
    d.cli(["checkpoint", "-w", ws, "-i", "x"], user=ALICE, check=1)
    _no_half_state(d, ws, files)
