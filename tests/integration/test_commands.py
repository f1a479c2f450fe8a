"""diff, rollback --preview, snapshot prefixes, pin/unpin, cleanup, recover, config/reload,
against a real daemon on a loop-backed btrfs."""
import hashlib
import json
import os
import re
import socket
import stat
import threading
import time

import pytest

import wsck
from wsck import ALICE, BOB, ADMIN_GROUP, init_ws, checkpoint, list_json, list_ids, err_code


# --------------------------------------------------------------------------- helpers

def sh(user, cwd, cmd):
    p = wsck.run_as(user, ["/bin/sh", "-ec", cmd], cwd=str(cwd))
    assert p.returncode == 0, "%s failed: %s %s" % (cmd, p.stdout, p.stderr)
    return p


def digest(root):
    """{relative path: description} of everything under root (root itself included as '.'):
    type, mode, owner, content sha256 or link target, and the hardlink group."""
    root = os.path.realpath(root)
    by_inode = {}
    entries = {}
    st = os.lstat(root)
    entries["."] = ("d", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
            if stat.S_ISLNK(st.st_mode):
                entries[rel] = ("l", os.readlink(p), uid, gid)
            elif stat.S_ISDIR(st.st_mode):
                entries[rel] = ("d", mode, uid, gid)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                entries[rel] = ["f", mode, uid, gid, h, st.st_size]
                by_inode.setdefault(st.st_ino, []).append(rel)
            else:
                entries[rel] = ("o", stat.S_IFMT(st.st_mode), mode, uid, gid)
    for group in by_inode.values():
        for rel in group:
            entries[rel] = tuple(entries[rel]) + (tuple(sorted(group)),)
    return entries


def diff_json(d, user, ws, frm, to=None, check=0):
    args = ["diff", "-w", ws, "-f", frm] + (["-t", to] if to else []) + ["--format", "json"]
    p = d.cli(args, user=user, check=check)
    if check != 0:
        return p
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError("diff --format json printed non-JSON: %r" % p.stdout)


def norm(changes, with_kind=True):
    out = set()
    for c in changes:
        t = (c["change"], c["path"], c.get("old_path"))
        out.add(t + ((c["kind"],) if with_kind else ()))
    return out


def diff_leftovers(d, ws_id):
    """Anything named .diff-* in the snapshot bucket or among the filesystem's subvolumes."""
    bucket = d.snap_root(ws_id)
    names = os.listdir(bucket) if bucket.is_dir() else []
    subvols = wsck.run(["btrfs", "subvolume", "list", d.mnt]).stdout
    return ([n for n in names if n.startswith(".diff")] +
            [l for l in subvols.splitlines() if ".diff" in l])


def subvol_paths(d):
    return sorted(l.split(" path ", 1)[1] for l in
                  wsck.run(["btrfs", "subvolume", "list", d.mnt]).stdout.splitlines())


def many_checkpoints(d, ws_id, ids, user=None, pin=()):
    """Create snapshots quickly: all requests on one connection."""
    reqs = [{"v": 1, "id": i, "op": "checkpoint", "workspace": ws_id, "snapshot": s,
             "pin": s in pin} for i, s in enumerate(ids)]
    res = d.raw_session(reqs, user=user, nreplies=len(reqs), timeout=300)
    assert len(res["replies"]) == len(reqs), res
    bad = [r for r in res["replies"] if not r.get("ok")]
    assert not bad, bad[:3]


def check_list_agrees_with_disk(d, ws_id, ws, user=ALICE):
    entries = list_json(d, user, str(ws))
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids)), "duplicate entries: %s" % ids
    phantom = [e["id"] for e in entries if e["meta"]["missing"]]
    assert not phantom, "entries flagged missing: %s" % phantom
    on_disk = d.snapshots_on_disk(ws_id)
    bucket = d.snap_root(ws_id)
    others = set(os.listdir(bucket)) - on_disk if bucket.is_dir() else set()
    assert not others, "non-subvolume entries in %s: %s" % (bucket, others)
    assert set(ids) == on_disk, "only listed %s, only on disk %s" % (
        sorted(set(ids) - on_disk), sorted(on_disk - set(ids)))
    # btrfs' own view agrees with the directory listing
    prefix = "snapshots/%s/" % ws_id
    sv = {p[len(prefix):] for p in subvol_paths(d) if p.startswith(prefix)}
    assert sv == on_disk, (sorted(sv ^ on_disk))
    return entries




# --------------------------------------------------------------------------- diff

CHANGES_FORWARD = {
    ("added", "new.txt", None, "file"),
    ("added", "link", None, "symlink"),
    ("added", "hl", None, "hardlink"),
    ("renamed", "ren2.txt", "ren.txt", "file"),
    ("renamed", "newdir", "olddir", "directory"),
    ("deleted", "gone.txt", None, "file"),
    ("deleted", "deldir", None, "directory"),
    ("deleted", "deldir/q", None, "file"),
    ("deleted", "deldir/r", None, "file"),
    ("modified", "mod.txt", None, "file"),
    ("added", "nd", None, "directory"),
    ("added", "nd/one", None, "file"),
    ("added", "nd/two", None, "file"),
}

BASE_FILES = {"a.txt": "a\n", "keep/x.txt": "x\n", "gone.txt": "gone\n", "olddir/f": "f\n",
              "olddir/sub/g": "g\n", "deldir/q": "q\n", "deldir/r": "r\n", "mod.txt": "m\n",
              "ren.txt": "r\n"}

MUTATE = ("echo n > new.txt; ln -s a.txt link; ln a.txt hl; mv ren.txt ren2.txt; "
          "mv olddir newdir; rm gone.txt; rm -r deldir; echo more >> mod.txt; "
          "mkdir nd; echo 1 > nd/one; echo 2 > nd/two")


def table_lines(changes):
    """Expected table lines for a set of (change, path, old_path, kind)."""
    sign = {"added": "+", "deleted": "-", "modified": "M", "renamed": "R"}
    out = set()
    for ch, path, old, kind in changes:
        line = "%s  %s" % (sign[ch], path)
        if ch == "renamed":
            line += " (%s → %s)" % (old, path)
        elif kind in ("directory", "symlink", "hardlink"):
            line += " (%s)" % kind
        out.add(line)
    return out


def test_diff_classification(daemon):
    d = daemon
    ws = d.make_ws(ALICE, BASE_FILES)
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    sh(ALICE, ws, MUTATE)
    assert not diff_leftovers(d, ws_id)
    disk_before = subvol_paths(d)

    # snapshot -> live
    live = diff_json(d, ALICE, ws, "s1")
    assert norm(live) == CHANGES_FORWARD, sorted(norm(live) ^ CHANGES_FORWARD)
    assert len(live) == len(CHANGES_FORWARD), "one entry per path: %s" % live
    for c in live:
        assert ("old_path" in c) == (c["change"] == "renamed"), c
    # the temporary read-only snapshot of the live workspace is gone
    assert not diff_leftovers(d, ws_id), diff_leftovers(d, ws_id)
    assert subvol_paths(d) == disk_before
    assert d.snapshots_on_disk(ws_id) == {"s1"}
    assert list_ids(d, ALICE, str(ws)) == ["s1"]

    # table output
    p = d.cli(["diff", "-w", ws, "-f", "s1"], user=ALICE)
    lines = p.stdout.rstrip("\n").split("\n")
    assert lines[-1] == "%d change(s)" % len(CHANGES_FORWARD), p.stdout
    assert lines[-2] == "", p.stdout
    assert set(lines[:-2]) == table_lines(CHANGES_FORWARD), p.stdout
    # raw protocol shape
    r = d.raw({"v": 1, "id": 5, "op": "diff", "workspace": ws_id, "from": "s1"}, user=ALICE)
    assert r["ok"] and r["result"]["count"] == len(CHANGES_FORWARD), r
    assert norm(r["result"]["changes"]) == CHANGES_FORWARD

    # snapshot -> snapshot gives the same classification
    checkpoint(d, ALICE, ws, "s2")
    s2s = diff_json(d, ALICE, ws, "s1", "s2")
    assert norm(s2s) == CHANGES_FORWARD, sorted(norm(s2s) ^ CHANGES_FORWARD)
    # nothing changed since s2
    assert diff_json(d, ALICE, ws, "s2") == []
    p = d.cli(["diff", "-w", ws, "-f", "s2"], user=ALICE)
    assert p.stdout.strip() == "No differences found.", p.stdout
    p = d.cli(["diff", "-w", ws, "-f", "s1", "-t", "s1"], user=ALICE)
    assert p.stdout.strip() == "No differences found.", p.stdout
    # the reverse direction: every add is a delete, renames swap
    rev = diff_json(d, ALICE, ws, "s2", "s1")
    want = {("deleted" if c == "added" else "added" if c == "deleted" else c,
             old if c == "renamed" else p_, p_ if c == "renamed" else None)
            for c, p_, old, _k in CHANGES_FORWARD}
    assert norm(rev, with_kind=False) == want, sorted(norm(rev, False) ^ want)
    # prefixes in diff; ambiguity names the candidates
    assert norm(diff_json(d, ALICE, ws, "s1", "s2")) == norm(s2s)
    checkpoint(d, ALICE, ws, "t-only")
    assert diff_json(d, ALICE, ws, "t") == []
    p = diff_json(d, ALICE, ws, "s", check=1)
    assert "InvalidArgument" in p.stderr and "s1" in p.stderr and "s2" in p.stderr, p.stderr
    p = diff_json(d, ALICE, ws, "nosuch", check=1)
    assert "SnapshotNotFound" in p.stderr, p.stderr
    assert not diff_leftovers(d, ws_id)
    assert d.snapshots_on_disk(ws_id) == {"s1", "s2", "t-only"}
    # another user cannot diff alice's workspace
    r = d.raw({"v": 1, "id": 6, "op": "diff", "workspace": ws_id, "from": "s1"}, user=BOB)
    assert err_code(r) == "WorkspaceNotFound"


def test_rollback_preview_changes_nothing(daemon):
    d = daemon
    ws = d.make_ws(ALICE, BASE_FILES)
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    sh(ALICE, ws, MUTATE)
    before = digest(ws)
    snaps_before = list_json(d, ALICE, str(ws))
    subvols_before = subvol_paths(d)
    live_ino = os.stat(d.live_dir(ws_id)).st_ino

    p = d.cli(["rollback", "-w", ws, "-s", "s1", "--preview"], user=ALICE)
    assert "Rolled back" not in p.stdout and "Previous state" not in p.stdout, p.stdout
    assert digest(ws) == before
    assert list_json(d, ALICE, str(ws)) == snaps_before
    assert subvol_paths(d) == subvols_before
    assert os.path.realpath(ws) == str(d.live_dir(ws_id))
    assert os.stat(d.live_dir(ws_id)).st_ino == live_ino
    assert not diff_leftovers(d, ws_id)

    # the preview is the diff from the live workspace to the snapshot (the reverse diff)
    r = d.raw({"v": 1, "id": 9, "op": "rollback", "workspace": ws_id, "snapshot": "s1",
               "preview": True}, user=ALICE)
    assert r["ok"], r
    checkpoint(d, ALICE, ws, "now")
    rev = diff_json(d, ALICE, ws, "now", "s1")
    assert norm(r["result"]["changes"]) == norm(rev)
    assert r["result"]["count"] == len(rev) == len(CHANGES_FORWARD)
    p2 = d.cli(["diff", "-w", ws, "-f", "now", "-t", "s1"], user=ALICE)
    assert sorted(p.stdout.splitlines()) == sorted(p2.stdout.splitlines()), (p.stdout, p2.stdout)
    assert digest(ws) == before
    d.cli(["delete", "-w", ws, "-s", "now", "--force"], user=ALICE)
    assert list_json(d, ALICE, str(ws)) == snaps_before
    # preview with a prefix and against an ambiguous prefix
    d.cli(["rollback", "-w", ws, "-s", "s", "--preview"], user=ALICE)
    checkpoint(d, ALICE, ws, "s2")
    p = d.cli(["rollback", "-w", ws, "-s", "s", "--preview"], user=ALICE, check=1)
    assert "InvalidArgument" in p.stderr and "s1" in p.stderr and "s2" in p.stderr
    assert digest(ws) == before
    assert not diff_leftovers(d, ws_id)


# --------------------------------------------------------------------------- prefixes, pins

def test_prefix_resolution_and_ambiguity(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "v0\n"})
    ws_id = init_ws(d, ALICE, ws)
    for i, s in enumerate(["build-1", "build-2", "release-x", "s1", "s10"]):
        wsck.write_as(ALICE, ws / "a.txt", "%s\n" % s)
        checkpoint(d, ALICE, ws, s)
    wsck.write_as(ALICE, ws / "a.txt", "live\n")

    # a unique prefix resolves
    p = d.cli(["pin", "-w", ws, "-s", "rel"], user=ALICE)
    assert "release-x" in p.stdout, p.stdout
    # an exact id wins over a longer id it is a prefix of
    p = d.cli(["pin", "-w", ws, "-s", "s1"], user=ALICE)
    pins = {e["id"]: e["meta"]["pinned"] for e in list_json(d, ALICE, str(ws))}
    assert pins == {"build-1": False, "build-2": False, "release-x": True, "s1": True,
                    "s10": False}, pins
    # ambiguous: error naming the candidates, nothing changes
    for args in (["pin", "-w", ws, "-s", "build"],
                 ["unpin", "-w", ws, "-s", "build"],
                 ["rollback", "-w", ws, "-s", "build"],
                 ["delete", "-w", ws, "-s", "build", "--force"],
                 ["rollback", "-w", ws, "-s", "s"]):
        p = d.cli(args, user=ALICE, check=1)
        assert "InvalidArgument" in p.stderr, (args, p.stderr)
        cands = ["build-1", "build-2"] if "build" in args else ["s1", "s10"]
        for c in cands:
            assert c in p.stderr, (args, p.stderr)
    r = d.raw({"v": 1, "id": 1, "op": "delete", "workspace": ws_id, "snapshot": "b",
               "force": True}, user=ALICE)
    assert err_code(r) == "InvalidArgument"
    assert "build-1" in r["error"]["message"] and "build-2" in r["error"]["message"], r
    assert wsck.read_text(ws / "a.txt") == "live\n"
    assert list_ids(d, ALICE, str(ws)) == ["build-1", "build-2", "release-x", "s1", "s10"]
    assert d.snapshots_on_disk(ws_id) == {"build-1", "build-2", "release-x", "s1", "s10"}
    # unknown prefix
    p = d.cli(["pin", "-w", ws, "-s", "zzz"], user=ALICE, check=1)
    assert "not found" in p.stderr.lower(), p.stderr
    # rollback / delete by unique prefix
    p = d.cli(["rollback", "-w", ws, "-s", "build-2", "--discard-current"], user=ALICE)
    assert wsck.read_text(ws / "a.txt") == "build-2\n"
    p = d.cli(["rollback", "-w", ws, "-s", "relea", "--discard-current"], user=ALICE)
    assert "release-x" in p.stdout, p.stdout
    assert wsck.read_text(ws / "a.txt") == "release-x\n"
    p = d.cli(["delete", "-w", ws, "-s", "build-1", "--force"], user=ALICE)
    p = d.cli(["delete", "-w", ws, "-s", "build", "--force"], user=ALICE)  # now unique
    assert "build-2" in p.stdout, p.stdout
    assert list_ids(d, ALICE, str(ws)) == ["release-x", "s1", "s10"]
    assert d.snapshots_on_disk(ws_id) == {"release-x", "s1", "s10"}
    # a prefix does not reach into another user's workspace
    bws = d.make_ws(BOB, {"b.txt": "b\n"})
    init_ws(d, BOB, bws)
    checkpoint(d, BOB, bws, "build-9")
    p = d.cli(["pin", "-w", ws, "-s", "build"], user=ALICE, check=1)
    assert "not found" in p.stderr.lower(), p.stderr


def test_pin_unpin_and_checkpoint_pin(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "p1", "--pin")
    checkpoint(d, ALICE, ws, "p2")

    def pins():
        return {e["id"]: e["meta"]["pinned"] for e in list_json(d, ALICE, str(ws))}

    assert pins() == {"p1": True, "p2": False}
    assert d.index(ws_id)["snapshots"]["p1"].get("pinned") is True
    p = d.cli(["pin", "-w", ws, "-s", "p2"], user=ALICE)
    assert p.stdout.strip() == "✓ Pinned: p2", p.stdout
    assert pins() == {"p1": True, "p2": True}
    d.cli(["pin", "-w", ws, "-s", "p2"], user=ALICE)  # idempotent
    assert pins() == {"p1": True, "p2": True}
    p = d.cli(["unpin", "-w", ws, "-s", "p1"], user=ALICE)
    assert p.stdout.strip() == "✓ Unpinned: p1", p.stdout
    assert pins() == {"p1": False, "p2": True}
    r = d.raw({"v": 1, "id": 4, "op": "pin", "workspace": ws_id, "snapshot": "p1"}, user=ALICE)
    assert r == {"id": 4, "ok": True,
                 "result": {"ws_id": ws_id, "snapshot": "p1", "pinned": True}}, r
    r = d.raw({"v": 1, "id": 5, "op": "unpin", "workspace": str(ws), "snapshot": "p1"},
              user=ALICE)
    assert r["ok"] and r["result"]["pinned"] is False, r
    p = d.cli(["pin", "-w", ws, "-s", "nope"], user=ALICE, check=1)
    assert "not found" in p.stderr.lower(), p.stderr
    # raw checkpoint with pin: true
    r = d.raw({"v": 1, "id": 6, "op": "checkpoint", "workspace": ws_id, "snapshot": "p3",
               "pin": True}, user=ALICE)
    assert r["ok"], r
    assert pins() == {"p1": False, "p2": True, "p3": True}
    # another (non-admin) user can neither pin nor unpin
    for op in ("pin", "unpin"):
        r = d.raw({"v": 1, "id": 7, "op": op, "workspace": ws_id, "snapshot": "p2"}, user=BOB)
        assert err_code(r) == "WorkspaceNotFound"
    # pins survive a restart and protect against cleanup
    d.stop()
    d.start()
    assert pins() == {"p1": False, "p2": True, "p3": True}
    p = d.cli(["cleanup", "-w", ws, "--keep", "0"], user=ALICE)
    # the last line says what btrfs gave back (Freed N B), measured after the cleaner ran
    lines = p.stdout.splitlines()
    assert lines[:2] == ["✓ Cleaned up 1 snapshot(s):", "  - p1"], p.stdout
    assert len(lines) == 3 and re.fullmatch(r"Freed [0-9.]+ (B|KiB|MiB|GiB)", lines[2]), p.stdout
    assert pins() == {"p2": True, "p3": True}
    assert d.snapshots_on_disk(ws_id) == {"p2", "p3"}


def test_cli_prints_a_hint_once(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "p1")
    for args in (["pin", "-w", ws, "-s", "nope"], ["rollback", "-w", ws, "-s", "nope"],
                 ["delete", "-w", ws, "-s", "nope", "--force"]):
        p = d.cli(args, user=ALICE, check=1)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert len(lines) == len(set(lines)), "%s: a line printed twice:\n%s" % (args, p.stderr)


# --------------------------------------------------------------------------- cleanup

def test_cleanup_keeps_newest_and_pinned(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    ids = ["c%02d" % i for i in range(30)]
    many_checkpoints(d, ws_id, ids, user=ALICE, pin={"c03"})
    d.cli(["pin", "-w", ws, "-s", "c15"], user=ALICE)
    assert list_ids(d, ALICE, str(ws)) == ids
    survivors = {"c03", "c15"} | set(ids[20:])
    removed = set(ids) - survivors
    assert len(removed) == 18

    p = d.cli(["cleanup", "-w", ws, "--keep", "10"], user=ALICE)
    lines = p.stdout.splitlines()
    assert lines[0] == "✓ Cleaned up 18 snapshot(s):", p.stdout
    assert re.fullmatch(r"Freed [0-9.]+ (B|KiB|MiB|GiB)", lines[-1]), p.stdout
    lines = lines[:-1]
    assert {l[len("  - "):] for l in lines[1:]} == removed and len(lines) == 19, p.stdout
    assert all(l.startswith("  - ") for l in lines[1:]), p.stdout
    entries = check_list_agrees_with_disk(d, ws_id, ws)
    assert [e["id"] for e in entries] == [i for i in ids if i in survivors]
    assert set(d.index(ws_id)["snapshots"]) == survivors
    # nothing more to do; the default keep (20) removes nothing either
    p = d.cli(["cleanup", "-w", ws, "--keep", "10"], user=ALICE)
    assert p.stdout.strip() == "✓ No snapshots needed cleanup.", p.stdout
    p = d.cli(["cleanup", "-w", ws], user=ALICE)
    assert p.stdout.strip() == "✓ No snapshots needed cleanup.", p.stdout
    # raw shape, keep 0 keeps only the pinned ones
    r = d.raw({"v": 1, "id": 3, "op": "cleanup", "workspace": ws_id, "keep": 0}, user=ALICE)
    assert r["ok"] and r["result"]["ws_id"] == ws_id, r
    assert set(r["result"]["removed"]) == set(ids[20:])
    check_list_agrees_with_disk(d, ws_id, ws)
    assert list_ids(d, ALICE, str(ws)) == ["c03", "c15"]
    # bad keep values; another user's workspace
    r = d.raw({"v": 1, "id": 4, "op": "cleanup", "workspace": ws_id, "keep": -1}, user=ALICE)
    assert err_code(r) == "InvalidArgument"
    r = d.raw({"v": 1, "id": 5, "op": "cleanup", "workspace": ws_id, "keep": 0}, user=BOB)
    assert err_code(r) == "WorkspaceNotFound"
    assert list_ids(d, ALICE, str(ws)) == ["c03", "c15"]


def test_cleanup_kill9_mid_batch_converges(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    n, keep = 200, 100
    ids = ["k%03d" % i for i in range(n)]
    pinned = {"k010", "k050"}
    t0 = time.monotonic()
    many_checkpoints(d, ws_id, ids, pin=pinned)
    print("created %d snapshots in %.1fs" % (n, time.monotonic() - t0))
    assert d.snapshots_on_disk(ws_id) == set(ids)
    newest = set(ids[-keep:])
    expected = newest | pinned

    # start the cleanup, kill -9 privd once a part of the batch is gone; three times, at
    # different points of the batch, each followed by a restart and the checks
    # (the last round has ~36 to remove, and the kill lands 5-10 deletes late)
    for round_, kill_after in enumerate((15, 30, 10)):
        have = d.snapshots_on_disk(ws_id)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(str(d.sock))
        s.sendall(wsck.encode_request({"v": 1, "id": 1, "op": "cleanup", "workspace": ws_id,
                                       "keep": keep}))
        gone = wsck.wait_until(
            lambda: len(d.snapshots_on_disk(ws_id)) <= len(have) - kill_after, 60, 0.001)
        d.kill9()
        s.close()
        assert gone, "cleanup did not start removing snapshots"
        left = d.snapshots_on_disk(ws_id)
        print("round %d: killed with %d of %d snapshots left" % (round_, len(left), len(have)))
        assert len(left) > len(expected), "cleanup finished before the kill; proves nothing"
        assert expected <= left, "cleanup removed kept snapshots: %s" % sorted(expected - left)
        # the oldest go first
        removed = [i for i in ids if i not in left and i not in pinned]
        assert removed == [i for i in ids if i not in pinned][:len(removed)], removed

        d.start()
        entries = check_list_agrees_with_disk(d, ws_id, ws)
        ids_after = {e["id"] for e in entries}
        assert expected <= ids_after, sorted(expected - ids_after)
        assert ids_after <= set(ids), "unexpected new entries: %s" % sorted(ids_after - set(ids))
        assert {e["id"] for e in entries if e["meta"]["pinned"]} == pinned
        assert not d.index(ws_id).get("pending_delete"), d.index(ws_id)

    p = d.cli(["cleanup", "-w", ws, "--keep", str(keep)], user=ALICE)
    assert p.stdout.startswith("✓ "), p.stdout
    entries = check_list_agrees_with_disk(d, ws_id, ws)
    assert {e["id"] for e in entries} == expected
    assert [e["id"] for e in entries] == [i for i in ids if i in expected]
    p = d.cli(["cleanup", "-w", ws, "--keep", str(keep)], user=ALICE)
    assert p.stdout.strip() == "✓ No snapshots needed cleanup.", p.stdout
    d.stop()
    d.start()
    assert {e["id"] for e in check_list_agrees_with_disk(d, ws_id, ws)} == expected


# --------------------------------------------------------------------------- recover

RICH = {"plain.txt": "plain\n", "exec.sh": "#!/bin/sh\necho hi\n", "secret": "s\n",
        "dir/nested/deep.txt": "deep\n", "dir/big.bin": os.urandom(300000),
        "private/p.txt": "p\n", "hl-a": "linked\n"}


def make_rich(d, user):
    ws = d.make_ws(user, RICH)
    os.chmod(ws / "exec.sh", 0o755)
    os.chmod(ws / "secret", 0o600)
    os.chmod(ws / "private", 0o700)
    sh(user, ws, "ln hl-a hl-b; ln hl-a dir/hl-c; ln -s plain.txt sym; ln -s /nonexistent/x dangling;"
       " ln -s dir/nested dirlink; mkdir emptydir; chmod 0750 emptydir")
    return ws


def test_recover_restores_a_plain_directory(make_daemon):
    d = make_daemon()
    ws = make_rich(d, ALICE)
    before = digest(ws)
    ws_id = init_ws(d, ALICE, ws)
    assert digest(ws) == before
    checkpoint(d, ALICE, ws, "r1")
    wsck.write_as(ALICE, ws / "plain.txt", "changed\n")
    checkpoint(d, ALICE, ws, "r2", "--pin")
    before = digest(ws)
    assert before["hl-a"][-1] == ("dir/hl-c", "hl-a", "hl-b")

    # a non-admin other user cannot recover it (not even see it)
    p = d.cli(["recover", "-w", ws, "--force"], user=BOB, check=None)
    assert p.returncode != 0 and "WorkspaceNotFound" in p.stderr, p.stderr
    r = d.raw({"v": 1, "id": 1, "op": "recover", "workspace": ws_id}, user=BOB)
    assert err_code(r) == "WorkspaceNotFound"
    p = d.cli(["recover", "--all", "--force"], user=BOB, check=None)
    assert os.path.islink(ws) and digest(ws) == before
    assert d.snapshots_on_disk(ws_id) == {"r1", "r2"}

    parent_before = sorted(os.listdir(ws.parent))
    p = d.cli(["recover", "-w", ws, "--force"], user=ALICE)
    assert "recovered" in p.stdout.lower(), p.stdout
    assert not os.path.islink(ws) and os.path.isdir(ws)
    assert digest(ws) == before
    assert not os.path.lexists(d.live_dir(ws_id))
    assert not d.snapshots_on_disk(ws_id)
    assert not [p for p in subvol_paths(d) if ws_id in p], subvol_paths(d)
    assert ws_id not in {w["ws_id"] for w in d.state()["workspaces"]}
    assert list_json(d, ALICE) == []
    p = d.cli(["list", "-w", ws], user=ALICE, check=None)
    assert p.returncode != 0 and "WorkspaceNotFound" in p.stderr, p.stderr
    # no leftovers next to the workspace
    assert sorted(os.listdir(ws.parent)) == parent_before
    # it can be managed again
    ws_id2 = init_ws(d, ALICE, ws)
    assert digest(ws) == before
    assert ws_id2


def test_recover_all(daemon):
    d = daemon
    w1 = d.make_ws(ALICE, {"one": "1\n"})
    w2 = d.make_ws(ALICE, {"two": "2\n"})
    wb = d.make_ws(BOB, {"bob": "b\n"})
    for w, u in ((w1, ALICE), (w2, ALICE), (wb, BOB)):
        init_ws(d, u, w)
        checkpoint(d, u, w, "x")
    d.cli(["recover", "--all", "--force"], user=ALICE)
    assert not os.path.islink(w1) and wsck.read_text(w1 / "one") == "1\n"
    assert not os.path.islink(w2) and wsck.read_text(w2 / "two") == "2\n"
    assert os.path.islink(wb), "alice's recover --all touched bob's workspace"
    assert [e["id"] for e in list_json(d, BOB)] == ["x"]


def test_recover_refused_when_a_directory_replaced_the_symlink(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "managed\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "r1")
    live_before = digest(d.live_dir(ws_id))
    sh(ALICE, ws.parent, "rm %s; mkdir %s; echo intruder > %s/a.txt; echo x > %s/other" %
       ((ws.name,) * 4))
    intruder = digest(ws)
    p = d.cli(["recover", "-w", ws_id, "--force"], user=ALICE, check=None)
    assert p.returncode != 0, p.stdout
    assert p.stderr.strip(), "no error message"
    assert not os.path.islink(ws) and digest(ws) == intruder
    assert digest(d.live_dir(ws_id)) == live_before
    assert d.snapshots_on_disk(ws_id) == {"r1"}
    assert ws_id in {w["ws_id"] for w in d.state()["workspaces"]}
    assert set(d.index(ws_id)["snapshots"]) == {"r1"}
    # a plain file there is refused too
    sh(ALICE, ws.parent, "rm -r %s; echo f > %s" % (ws.name, ws.name))
    p = d.cli(["recover", "-w", ws_id, "--force"], user=ALICE, check=None)
    assert p.returncode != 0
    assert wsck.read_text(ws) == "f\n"
    assert digest(d.live_dir(ws_id)) == live_before
    assert d.snapshots_on_disk(ws_id) == {"r1"}
    # once the intruder is moved away (and the link restored at a restart), recover works
    os.unlink(ws)
    d.stop()
    d.start()
    assert os.path.islink(ws) and digest(ws) == live_before
    d.cli(["recover", "-w", ws_id, "--force"], user=ALICE)
    assert not os.path.islink(ws) and digest(ws) == live_before
    assert not d.snapshots_on_disk(ws_id)


def test_recover_onto_a_full_filesystem_fails_safely(daemon):
    d = daemon
    alice = wsck.user_info(ALICE)
    small = d.dir / "small"
    small.mkdir()
    wsck.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755,uid=%d,gid=%d" %
              (alice.pw_uid, alice.pw_gid), "wsck-small", small])
    d.extra_mounts.append(small)
    ws = d.track(small / "proj")
    sh(ALICE, small, "mkdir proj; head -c 3000000 /dev/urandom > proj/big1; "
       "head -c 2000000 /dev/urandom > proj/big2; echo small > proj/s.txt; ln -s s.txt proj/l")
    before = digest(ws)
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "r1")
    assert digest(ws) == before
    # fill the tmpfs: about 1 MiB stays free, the copy needs about 5 MB
    filler = small / "filler"
    sv = os.statvfs(small)
    free = sv.f_bavail * sv.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * (free - (1 << 20)))
    listing = sorted(os.listdir(small))

    p = d.cli(["recover", "-w", ws, "--force"], user=ALICE, check=None)
    assert p.returncode != 0, p.stdout
    print("recover on a full filesystem:", p.returncode, p.stderr)
    assert os.path.islink(ws) and os.path.realpath(ws) == str(d.live_dir(ws_id))
    assert digest(ws) == before
    assert sorted(os.listdir(small)) == listing, "recover left something behind"
    assert d.snapshots_on_disk(ws_id) == {"r1"}
    assert list_ids(d, ALICE, str(ws)) == ["r1"]
    assert ws_id in {w["ws_id"] for w in d.state()["workspaces"]}
    assert d.running()
    # still fully usable
    checkpoint(d, ALICE, ws, "r2")

    os.unlink(filler)
    d.cli(["recover", "-w", ws, "--force"], user=ALICE)
    assert not os.path.islink(ws) and digest(ws) == before
    assert not d.snapshots_on_disk(ws_id)
    assert ws_id not in {w["ws_id"] for w in d.state()["workspaces"]}
    assert sorted(os.listdir(small)) == ["proj"]


# --------------------------------------------------------------------------- config

COMMENT = "# wsck: a comment the daemon must keep"


def config_values(d, user=None):
    r = d.raw({"v": 1, "id": 1, "op": "config"}, user=user)
    assert r["ok"], r
    return r["result"]


def field(out, label):
    m = re.search(r"^\s*%s:\s*(.*)$" % re.escape(label), out, re.M)
    assert m, "no %r in config output:\n%s" % (label, out)
    return m.group(1).strip()


def test_config_view_shows_defaults(daemon):
    d = daemon
    for user in (None, ALICE):
        out = d.cli(["config"], user=user).stdout
        assert field(out, "Config file") == str(d.conf)
        assert field(out, "Mount path") == str(d.mnt)
        assert field(out, "Socket path") == str(d.sock)
        assert field(out, "Auto-cleanup") == "disabled (default)"
        assert field(out, "Auto-cleanup keep").endswith("(default)")
        assert field(out, "Auto-cleanup interval").endswith("(default)")
        assert field(out, "Health-check interval").endswith("(default)")
        assert field(out, "Image max percent").endswith("(default)")
        assert not field(out, "Image size").endswith("(default)")  # set in the file
    res = config_values(d, ALICE)
    assert res["config_file"] == str(d.conf)
    v = res["values"]
    assert set(v) >= {"mount_path", "socket_path", "auto_cleanup", "auto_cleanup_keep",
                      "auto_cleanup_interval_secs", "health_check_interval_secs", "img_size",
                      "img_max_percent", "backend_type"}
    assert v["auto_cleanup"] == {"value": False, "set": False}
    assert v["img_size"] == {"value": 1, "set": True}
    assert v["socket_path"] == {"value": str(d.sock), "set": True}


def test_config_update_and_reload_round_trip(make_daemon):
    d = make_daemon(extra_conf=COMMENT)
    p = d.cli(["config", "--enable-auto-cleanup", "--auto-cleanup-keep", "30d",
               "--auto-cleanup-interval", "3600"])
    assert "updated" in p.stdout.lower(), p.stdout
    text = d.conf.read_text()
    assert COMMENT in text.splitlines(), text
    assert re.search(r"^auto_cleanup\s*=\s*true\s*$", text, re.M), text
    assert re.search(r'^auto_cleanup_keep\s*=\s*"30d"\s*$', text, re.M), text
    assert re.search(r"^auto_cleanup_interval_secs\s*=\s*3600\s*$", text, re.M), text
    # top-level keys stay before the [backend] tables
    assert text.index("auto_cleanup") < text.index("[backend]"), text
    out = d.cli(["config"]).stdout
    assert field(out, "Auto-cleanup") == "enabled"
    assert "30d" in field(out, "Auto-cleanup keep")
    assert "(default)" not in field(out, "Auto-cleanup keep")
    assert field(out, "Auto-cleanup interval").startswith("3600s")
    assert field(out, "Health-check interval").endswith("(default)")
    v = config_values(d)["values"]
    assert v["auto_cleanup"] == {"value": True, "set": True}
    assert v["auto_cleanup_interval_secs"] == {"value": 3600, "set": True}

    # a hand edit, then reload
    text = d.conf.read_text().replace(COMMENT, COMMENT + "\nhealth_check_interval_secs = 120")
    d.conf.write_text(text)
    p = d.cli(["reload"])
    assert "reload" in p.stdout.lower(), p.stdout
    out = d.cli(["config"]).stdout
    assert field(out, "Health-check interval").startswith("120s"), out
    assert "(default)" not in field(out, "Health-check interval")
    # disable again; the comment is still there, the config survives a restart
    d.cli(["config", "--disable-auto-cleanup", "--img-max-percent", "30"])
    text = d.conf.read_text()
    assert COMMENT in text.splitlines()
    assert re.search(r"^auto_cleanup\s*=\s*false\s*$", text, re.M), text
    r = d.raw({"v": 1, "id": 2, "op": "config_set", "set": {"img_size": 2}})
    assert r["ok"] and "img_size" in r["result"]["changed"], r
    assert "img_size" in r["result"]["restart_required"], r
    d.stop()
    d.start()
    v = config_values(d)["values"]
    assert v["auto_cleanup"]["value"] is False
    assert v["health_check_interval_secs"]["value"] == 120
    assert v["img_max_percent"] == {"value": 30, "set": True}
    assert COMMENT in d.conf.read_text().splitlines()


def test_config_rejects_bad_values(make_daemon):
    d = make_daemon(extra_conf=COMMENT)
    orig = d.conf.read_text()
    running = config_values(d)
    p = d.cli(["config", "--img-max-percent", "101"], check=2)
    assert "101" in p.stderr, p.stderr
    for bad in ({"img_max_percent": 101}, {"auto_cleanup_keep": "30 parsecs"},
                {"auto_cleanup": "yes"}, {"health_check_interval_secs": -5}, {"nosuchkey": 1}):
        r = d.raw({"v": 1, "id": 3, "op": "config_set", "set": bad})
        assert err_code(r) == "InvalidArgument", (bad, r)
    assert d.conf.read_text() == orig
    assert config_values(d) == running

    # a hand-edited bad file: reload fails naming file:line, the running config is kept
    lines = orig.split("\n")
    at = lines.index(COMMENT)
    lines.insert(at + 1, "auto_cleanup = true")
    lines.insert(at + 2, 'health_check_interval_secs = "soon"')
    d.conf.write_text("\n".join(lines))
    p = d.cli(["reload"], check=None)
    assert p.returncode != 0, p.stdout
    assert "%s:%d" % (d.conf, at + 3) in p.stderr, p.stderr
    assert config_values(d)["values"] == running["values"]
    out = d.cli(["config"]).stdout
    assert field(out, "Auto-cleanup") == "disabled (default)", out
    assert field(out, "Health-check interval").endswith("(default)"), out
    # fix the file: reload works again
    lines[at + 2] = "health_check_interval_secs = 90"
    d.conf.write_text("\n".join(lines))
    d.cli(["reload"])
    out = d.cli(["config"]).stdout
    assert field(out, "Auto-cleanup") == "enabled"
    assert field(out, "Health-check interval").startswith("90s")


def test_config_update_needs_admin(make_daemon):
    d = make_daemon(admin_group=ADMIN_GROUP, extra_conf=COMMENT)
    orig = d.conf.read_text()
    for args in (["config", "--enable-auto-cleanup"], ["config", "--health-check-interval", "60"],
                 ["reload"]):
        p = d.cli(args, user=ALICE, check=1)
        assert "PermissionDenied" in p.stderr, (args, p.stderr)
    for req in ({"op": "config_set", "set": {"auto_cleanup": True}}, {"op": "reload"}):
        r = d.raw(dict(req, v=1, id=1), user=ALICE)
        assert err_code(r) == "PermissionDenied"
    assert d.conf.read_text() == orig
    # viewing is open to every socket user
    d.cli(["config"], user=ALICE)
    # the admin may
    d.cli(["config", "--enable-auto-cleanup", "--auto-cleanup-keep", "15"], user=BOB)
    d.cli(["reload"], user=BOB)
    v = config_values(d, ALICE)["values"]
    assert v["auto_cleanup"] == {"value": True, "set": True}
    assert str(v["auto_cleanup_keep"]["value"]) == "15"
    assert COMMENT in d.conf.read_text().splitlines()


# --------------------------------------------------------------------------- auto-cleanup

def test_auto_cleanup_age_mode(make_daemon):
    """auto_cleanup with an age keep ("3s") and a 1 s interval removes unpinned snapshots
    older than 3 s, keeps pinned ones and newer ones, and keeps disk and index in step."""
    d = make_daemon(extra_conf='auto_cleanup = true\nauto_cleanup_keep = "3s"\n'
                               'auto_cleanup_interval_secs = 1')
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "old1")
    d.cli(["checkpoint", "-w", ws, "-i", "oldpinned", "--pin"], user=ALICE, check=0)
    time.sleep(4.5)
    checkpoint(d, ALICE, ws, "fresh")
    wsck.wait_until(lambda: "old1" not in list_ids(d, ALICE, ws), 5)
    ids = list_ids(d, ALICE, ws)
    assert "old1" not in ids and "oldpinned" in ids and "fresh" in ids, ids
    ws_id = d.state()["workspaces"][0]["ws_id"]
    on_disk = sorted(os.listdir(d.snap_root(ws_id)))
    assert on_disk == sorted(ids), (on_disk, ids)
    assert "auto-cleanup removed" in d.log


def test_auto_cleanup_disabled_by_reload(make_daemon):
    """Count mode keeps the newest N; after a reload that disables auto-cleanup nothing more
    is removed."""
    d = make_daemon(extra_conf="auto_cleanup = true\nauto_cleanup_keep = 2\n"
                               "auto_cleanup_interval_secs = 1")
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    init_ws(d, ALICE, ws)
    for i in range(4):
        checkpoint(d, ALICE, ws, "c%d" % i)
    wsck.wait_until(lambda: list_ids(d, ALICE, ws) == ["c2", "c3"], 5)
    assert list_ids(d, ALICE, ws) == ["c2", "c3"]
    text = d.conf.read_text().replace("auto_cleanup = true", "auto_cleanup = false")
    d.conf.write_text(text)
    d.cli(["reload"], check=0)
    for i in range(4, 7):
        checkpoint(d, ALICE, ws, "c%d" % i)
    time.sleep(2.5)
    assert list_ids(d, ALICE, ws) == ["c2", "c3", "c4", "c5", "c6"]


# --------------------------------------------------------------------------- history

def test_history_steps_and_branch(daemon):
    """rollback -n walks parent links recorded at checkpoint time; a rollback moves the
    head, so later checkpoints branch from it; -n beyond history and -n with -s are usage
    errors (exit 2)."""
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    for v in ("v1", "v2", "v3"):
        wsck.write_as(ALICE, ws / "f", v + "\n")
        checkpoint(d, ALICE, ws, "c" + v)
    wsck.write_as(ALICE, ws / "f", "dirty\n")
    d.cli(["rollback", "-w", ws, "-n", "2", "--discard-current"], user=ALICE, check=0)
    assert (ws / "f").read_text() == "v2\n"
    # branch: a new checkpoint continues from cv2, not cv3
    wsck.write_as(ALICE, ws / "f", "b1\n")
    checkpoint(d, ALICE, ws, "branch1")
    d.cli(["rollback", "-w", ws, "-n", "2", "--discard-current"], user=ALICE, check=0)
    assert (ws / "f").read_text() == "v2\n"
    # the head is now cv2 again: one step is cv2 itself, two is its parent cv1
    d.cli(["rollback", "-w", ws, "-n", "2", "--discard-current"], user=ALICE, check=0)
    assert (ws / "f").read_text() == "v1\n"
    r = d.cli(["rollback", "-w", ws, "-n", "9"], user=ALICE, check=None)
    assert r.returncode == 2 and "history" in r.stderr, r.stderr
    r = d.cli(["rollback", "-w", ws, "-n", "1", "-s", "cv1"], user=ALICE, check=None)
    assert r.returncode == 2
    assert (ws / "f").read_text() == "v1\n"


def test_skip_unchanged(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    r = d.cli(["checkpoint", "-w", ws, "-i", "s2", "--skip-unchanged"], user=ALICE, check=0)
    assert "skipped: unchanged" in r.stdout
    assert "s2" not in list_ids(d, ALICE, ws)
    wsck.write_as(ALICE, ws / "f", "v2\n")
    r = d.cli(["checkpoint", "-w", ws, "-i", "s2", "--skip-unchanged"], user=ALICE, check=0)
    assert "Checkpoint created: s2" in r.stdout
    assert "s2" in list_ids(d, ALICE, ws)


def test_skip_unchanged_sees_a_write_in_place(daemon):
    """Same size, same inode, no name added or removed: only the file's data and times
    change, and that is a change."""
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    p = wsck.run_as(ALICE, ["dd", "of=%s" % (ws / "f"), "conv=notrunc", "status=none"],
                    input="V2\n")
    assert p.returncode == 0, p.stderr
    r = d.cli(["checkpoint", "-w", ws, "-i", "s2", "--skip-unchanged"], user=ALICE, check=0)
    assert "Checkpoint created: s2" in r.stdout, r.stdout
    assert wsck.read_text(d.snap_dir(ws_id, "s2") / "f") == "V2\n"


def test_list_utc(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "u1")
    r = d.cli(["list", "-w", ws, "--utc"], user=ALICE, check=0)
    assert "CREATED (UTC)" in r.stdout
    assert re.search(r"u1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.stdout), r.stdout


# --------------------------------------------------------------------------- advisories

def test_advisory_when_backend_nearly_full(daemon):
    """Every successful command warns once on stderr (exit 0) when the backend is more
    than 90% full, and says how to fix it; the periodic health check logs it too."""
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    r = d.cli(["list", "-w", ws], user=ALICE, check=0)
    assert "Warning" not in r.stderr
    wsck.run(["runuser", "-u", ALICE, "--", "fallocate", "-l", "880M", str(ws / "big")])
    wsck.run(["sync"])
    r = d.cli(["list", "-w", ws], user=ALICE, check=0)
    assert r.returncode == 0
    assert "btrfs backend usage above 90%" in r.stderr, r.stderr
    assert "ws-ckpt cleanup" in r.stderr
    assert r.stderr.count("above 90%") == 1


def test_advisory_rides_on_the_reply(daemon):
    """A request with "advisory": true gets the numbers the CLI's warning needs on its own
    answer (one request per command instead of two); only successes carry it."""
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    st = d.raw({"v": 1, "id": 1, "op": "status"}, user=ALICE)["result"]
    r = d.raw({"v": 1, "id": 2, "op": "list", "workspace": str(ws), "advisory": True}, user=ALICE)
    assert r["ok"] and isinstance(r["result"], dict), r
    adv = r["advisory"]
    assert adv["over_limit_workspace_count"] == 0 and adv["snapshot_limit"] == 1000, adv
    assert adv["fs_total_bytes"] == st["fs_total_bytes"] > 0, (adv, st)
    assert 0 < adv["fs_used_bytes"] <= adv["fs_total_bytes"], adv
    # a diff's answer is written when its stream ends: it carries it too
    checkpoint(d, ALICE, ws, "a1")
    r = d.raw({"v": 1, "id": 3, "op": "diff", "workspace": str(ws), "from": "a1",
               "advisory": True}, user=ALICE)
    assert r["ok"] and "advisory" in r, r
    r = d.raw({"v": 1, "id": 4, "op": "list", "workspace": str(ws)}, user=ALICE)
    assert r["ok"] and "advisory" not in r, r
    r = d.raw({"v": 1, "id": 5, "op": "checkpoint", "workspace": str(ws) + "-nope",
               "snapshot": "x", "advisory": True}, user=ALICE)
    assert not r["ok"] and "advisory" not in r, r
    r = d.raw({"v": 1, "id": 6, "op": "list", "advisory": "yes"}, user=ALICE)
    assert err_code(r) == "InvalidArgument" and "advisory" in r["error"]["message"], r


def test_advisory_counts_only_the_callers_workspaces(daemon):
    """More than 1,000 snapshots in a workspace: its owner is warned after any command,
    from the command's own answer (no status request is made); another user is not."""
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    bws = d.make_ws(BOB, {"g": "b\n"})
    init_ws(d, BOB, bws)
    ws_id = d.ws_id_of(ws)
    d.stop()
    # 1,001 recorded snapshots without making them through btrfs (reconcile takes any
    # entry of the bucket as present; the test never reads them)
    ip = d.index_file(ws_id)
    idx = json.loads(ip.read_text())
    tmpl = idx["snapshots"]["s1"]
    for i in range(1000):
        idx["snapshots"]["many-%04d" % i] = dict(tmpl, message=None, pinned=False)
        os.mkdir(d.snap_dir(ws_id, "many-%04d" % i))
    ip.write_text(json.dumps(idx))
    d.start()
    before = d.log.count("op=status")
    r = d.cli(["list", "-w", ws], user=ALICE, check=0)
    assert r.stderr.count("1 workspace(s) have more than 1000 snapshots") == 1, r.stderr
    assert "ws-ckpt cleanup" in r.stderr
    assert d.log.count("op=status") == before, d.log_tail()
    r = d.cli(["list", "-w", bws], user=BOB, check=0)
    assert "more than 1000" not in r.stderr, r.stderr
    r = d.raw({"v": 1, "id": 1, "op": "version", "advisory": True}, user=BOB)
    assert r["advisory"]["over_limit_workspace_count"] == 0, r
    r = d.raw({"v": 1, "id": 1, "op": "version", "advisory": True}, user=ALICE)
    assert r["advisory"]["over_limit_workspace_count"] == 1, r
    r = d.raw({"v": 1, "id": 1, "op": "version", "advisory": True})  # root sees all
    assert r["advisory"]["over_limit_workspace_count"] == 1, r
    # status shows the numbers itself: no warning there
    r = d.cli(["status"], user=ALICE, check=0)
    assert "more than 1000" not in r.stderr, r.stderr


def test_advisory_from_a_daemon_without_the_reply_field(tmp_path):
    """A daemon from before the "advisory" reply field ignores the request's: the CLI
    then asks for status, as it used to, and warns from that."""
    path = str(tmp_path / "old.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(20)
    seen = []
    status = {"daemon_version": "0.0.9", "uptime_secs": 1, "backend": "BtrfsLoop",
              "mount_path": "/m", "img_path": None, "fs_total_bytes": 1000,
              "fs_used_bytes": 950,
              "workspaces": [{"ws_id": "ws-abcdef", "path": "/x", "owner_uid": 0,
                              "snapshot_count": 1001, "missing_count": 0, "state": "ready"}]}

    def serve():
        try:
            conn, _ = srv.accept()
            with conn, conn.makefile("rwb") as f:
                for line in f:
                    req = json.loads(line)
                    seen.append(req)
                    res = status if req["op"] == "status" else {"snapshots": []}
                    f.write(json.dumps({"id": req["id"], "ok": True, "result": res})
                            .encode() + b"\n")
                    f.flush()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        p = wsck.run([str(wsck.CLI), "list"], check=False,
                     env=dict(os.environ, WS_CKPT_SOCKET=path, NO_COLOR="1"))
    finally:
        srv.close()
        t.join(10)
    assert p.returncode == 0, p.stderr
    assert [r["op"] for r in seen] == ["list", "status"], seen
    assert seen[0].get("advisory") is True, seen
    assert "1 workspace(s) have more than 1000 snapshots" in p.stderr, p.stderr
    assert "usage above 90% (current: 95.0%)" in p.stderr, p.stderr


def test_unregister_only_when_data_is_gone(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "u1")
    r = d.cli(["unregister", "-w", ws], user=ALICE, check=None)
    assert r.returncode == 1 and "recover" in r.stderr
    ws_id = d.state()["workspaces"][0]["ws_id"]
    d.stop()
    wsck.run(["btrfs", "subvolume", "delete", os.path.join(str(d.mnt), ws_id)])
    d.start()
    r = d.cli(["unregister", "-w", ws_id], user=ALICE, check=0)
    assert "unregistered" in r.stdout
    assert d.state()["workspaces"] == []
    archived = [n for n in os.listdir(d.state_dir / "indexes") if n.startswith(ws_id + ".unregistered-")]
    assert len(archived) == 1
