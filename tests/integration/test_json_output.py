"""--format json / --json on every command (docs/PROTOCOL.md, "CLI JSON output"), against a
real daemon on a loop-backed btrfs, run as the unprivileged test users.

Every JSON run checks that stdout is exactly one pretty-printed document (two-space indent,
nothing before or after it, no colour, no marks); every error case checks the error document,
the exit code and that the human error still reaches stderr."""
import json
import os
import re

import wsck
from wsck import ALICE, BOB, ADMIN_GROUP, AUTO_ID_STRICT_RE, init_ws, checkpoint, list_ids


# --------------------------------------------------------------------------- helpers

def jrun(d, args, user=ALICE, check=0, **kw):
    """ws-ckpt ARGS --json; returns (document, process)."""
    p = d.cli(list(args) + ["--json"], user=user, check=check, **kw)
    out = p.stdout
    assert "\x1b[" not in out, "colour on stdout: %r" % out
    assert "✓" not in out and "⚠" not in out and "✗" not in out, out
    try:
        doc = json.loads(out)  # raises on anything after the document
    except ValueError:
        raise AssertionError("ws-ckpt %s --json: stdout is not one JSON document: %r" %
                             (args, out))
    # the pretty style: two-space indent, "key": value, one final newline
    assert out == json.dumps(doc, indent=2, ensure_ascii=False) + "\n", out
    return doc, p


def jerr(d, args, code, user=ALICE, rc=1, **kw):
    """A failing --json run: {"error":{"code","message","hint"?}} and a human error on stderr."""
    doc, p = jrun(d, args, user=user, check=rc, **kw)
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert set(err) <= {"code", "message", "hint"} and {"code", "message"} <= set(err), err
    assert err["code"] == code, (args, err, p.stderr)
    assert isinstance(err["message"], str) and err["message"], err
    assert p.stderr.strip(), "no human error on stderr"
    return err


def usage_json(d, args, user=ALICE):
    """Usage errors stay usage errors in JSON mode: exit 2, nothing on stdout."""
    p = d.cli(list(args), user=user, check=2)
    assert p.stdout == "", p.stdout
    assert "Usage:" in p.stderr, p.stderr
    return p


def ws_id_of(d, path):
    ws_id = d.ws_id_of(path)
    assert re.fullmatch(r"ws-[0-9a-f]{6}", ws_id), ws_id
    return ws_id


# --------------------------------------------------------------------------- init / checkpoint / pin / delete

def test_json_init_checkpoint_pin_delete(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"a.txt": "1\n"})

    doc, _ = jrun(d, ["init", "-w", ws])
    ws_id = ws_id_of(d, ws)
    assert doc == {"ws_id": ws_id, "workspace": str(ws), "already_initialized": False}
    doc, _ = jrun(d, ["init", "-w", ws])
    assert doc == {"ws_id": ws_id, "workspace": str(ws), "already_initialized": True}

    doc, _ = jrun(d, ["checkpoint", "-w", ws, "-i", "c1", "-m", "first"])
    assert doc == {"ws_id": ws_id, "workspace": str(ws), "snapshot": "c1", "skipped": False,
                   "reason": None, "pinned": False, "initialized": False}
    doc, _ = jrun(d, ["checkpoint", "-w", ws, "-i", "c2", "--pin"])
    assert doc["snapshot"] == "c2" and doc["pinned"] is True and doc["skipped"] is False
    doc, _ = jrun(d, ["checkpoint", "-w", ws, "-i", "c3", "--skip-unchanged"])
    assert doc == {"ws_id": ws_id, "workspace": str(ws), "snapshot": None, "skipped": True,
                   "reason": "unchanged", "pinned": False, "initialized": False}
    assert list_ids(d, ALICE, ws) == ["c1", "c2"]

    # checkpoint of a plain directory initialises it; an empty one is skipped
    ws2 = d.make_ws(ALICE, {"b.txt": "2\n"})
    doc, _ = jrun(d, ["checkpoint", "-w", ws2, "-i", "first"])
    assert doc["initialized"] is True and doc["snapshot"] == "first"
    assert doc["ws_id"] == ws_id_of(d, ws2) and doc["workspace"] == str(ws2)
    empty = d.make_ws(ALICE, empty=True)
    doc, _ = jrun(d, ["checkpoint", "-w", empty, "-i", "e1"])
    assert doc["skipped"] is True and doc["reason"] == "empty" and doc["snapshot"] is None

    # --format json is the same as --json; --format table is the human text
    p = d.cli(["pin", "-w", ws, "-s", "c1", "--format", "json"], user=ALICE)
    assert json.loads(p.stdout) == {"ws_id": ws_id, "snapshot": "c1", "pinned": True}
    doc, _ = jrun(d, ["unpin", "-w", ws, "-s", "c1"])
    assert doc == {"ws_id": ws_id, "snapshot": "c1", "pinned": False}
    p = d.cli(["pin", "-w", ws, "-s", "c1", "--format", "table"], user=ALICE)
    assert "Pinned: c1" in p.stdout
    d.cli(["unpin", "-w", ws, "-s", "c1"], user=ALICE)

    # delete cannot prompt in JSON mode: --force is required (a usage error otherwise)
    p = usage_json(d, ["delete", "-w", ws, "-s", "c1", "--json"])
    assert "--force" in p.stderr
    assert list_ids(d, ALICE, ws) == ["c1", "c2"]
    doc, _ = jrun(d, ["delete", "-w", ws, "-s", "c1", "--force"])
    assert doc == {"ws_id": ws_id, "snapshot": "c1"}
    assert list_ids(d, ALICE, ws) == ["c2"]

    # errors: the daemon's code, exit 1
    jerr(d, ["checkpoint", "-w", ws, "-i", "c2"], "SnapshotAlreadyExists")
    jerr(d, ["delete", "-w", ws, "-s", "nope", "--force"], "SnapshotNotFound")
    jerr(d, ["pin", "-w", ws, "-s", "nope"], "SnapshotNotFound")
    jerr(d, ["unpin", "-w", ws, "-s", "nope"], "SnapshotNotFound")
    jerr(d, ["init", "-w", "ws-000000"], "WorkspaceNotFound")
    # another user's workspace does not exist for bob
    jerr(d, ["checkpoint", "-w", ws_id, "-i", "x"], "WorkspaceNotFound", user=BOB)
    # usage errors stay usage errors
    usage_json(d, ["checkpoint", "-w", ws, "--json"])
    usage_json(d, ["init", "-w", ws, "--format", "yaml"])
    usage_json(d, ["init", "-w", ws, "--json", "--format", "json"])


# --------------------------------------------------------------------------- rollback

def test_json_rollback_preview_and_steps(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"keep.txt": "k\n", "gone.txt": "g\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "r1")
    wsck.write_as(ALICE, ws / "new.txt", "n\n")
    os.unlink(ws / "gone.txt")

    # --preview prints exactly what diff --format json prints
    doc, _ = jrun(d, ["rollback", "-w", ws, "-s", "r1", "--preview"])
    diff = json.loads(d.cli(["diff", "-w", ws, "-f", "r1", "--format", "json"], user=ALICE).stdout)
    assert isinstance(doc, list)
    # a preview goes from the live workspace to the snapshot: the reverse of diff r1 -> live
    assert {(c["change"], c["path"]) for c in doc} == {("deleted", "new.txt"), ("added", "gone.txt")}
    assert {(c["change"], c["path"]) for c in diff} == {("added", "new.txt"), ("deleted", "gone.txt")}
    assert all(set(c) >= {"change", "path", "kind"} for c in doc), doc
    assert os.path.exists(ws / "new.txt"), "preview changed the workspace"

    doc, _ = jrun(d, ["rollback", "-w", ws, "-s", "r1"])
    assert set(doc) == {"ws_id", "workspace", "snapshot", "steps", "auto_snapshot", "discarded"}
    assert doc["ws_id"] == ws_id and doc["workspace"] == str(ws) and doc["snapshot"] == "r1"
    assert doc["steps"] is None and doc["discarded"] is False
    assert AUTO_ID_STRICT_RE.fullmatch(doc["auto_snapshot"]), doc
    assert doc["auto_snapshot"] in list_ids(d, ALICE, ws)
    assert not os.path.exists(ws / "new.txt")

    checkpoint(d, ALICE, ws, "r2")
    doc, _ = jrun(d, ["rollback", "-w", ws, "-n", "1", "--discard-current"])
    assert doc == {"ws_id": ws_id, "workspace": str(ws), "snapshot": "r2", "steps": 1,
                   "auto_snapshot": None, "discarded": True}

    jerr(d, ["rollback", "-w", ws, "-s", "nope"], "SnapshotNotFound")
    jerr(d, ["rollback", "-w", ws, "-s", "nope", "--preview"], "SnapshotNotFound")
    # -n beyond the history: the daemon's InvalidArgument, exit 2 as before
    jerr(d, ["rollback", "-w", ws, "-n", "99"], "InvalidArgument", rc=2)
    usage_json(d, ["rollback", "-w", ws, "-n", "1", "--preview", "--json"])


# --------------------------------------------------------------------------- cleanup

def test_json_cleanup(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f": "0\n"})
    ws_id = init_ws(d, ALICE, ws)
    for i in range(4):
        wsck.write_as(ALICE, ws / "f", "%d\n" % i)
        checkpoint(d, ALICE, ws, "k%d" % i)
    d.cli(["pin", "-w", ws, "-s", "k0"], user=ALICE)

    doc, _ = jrun(d, ["cleanup", "-w", ws, "--keep", "1"])
    assert doc["ws_id"] == ws_id
    assert sorted(doc["removed"]) == ["k1", "k2"]
    assert set(doc) == {"ws_id", "removed", "space"}
    sp = doc["space"]  # the daemon's, passed through unchanged
    assert set(sp) == {"freed_bytes", "cleaner_done", "waited_ms", "pending"}, sp
    assert isinstance(sp["cleaner_done"], bool)
    assert all(isinstance(sp[k], int) and sp[k] >= 0
               for k in ("freed_bytes", "waited_ms", "pending")), sp
    assert sp["cleaner_done"] == (sp["pending"] == 0)
    assert list_ids(d, ALICE, ws) == ["k0", "k3"]
    # table mode says what the wait found
    p = d.cli(["cleanup", "-w", ws, "--keep", "0"], user=ALICE)
    assert "k3" in p.stdout
    assert re.search(r"Freed [0-9.]+ [KMG]?i?B", p.stdout) or \
        "still reclaiming" in p.stderr, p.stdout + p.stderr

    doc, _ = jrun(d, ["cleanup", "-w", ws, "--keep", "1"])
    assert doc["ws_id"] == ws_id and doc["removed"] == []
    assert doc["space"] == {"freed_bytes": 0, "cleaner_done": True, "waited_ms": 0, "pending": 0}

    jerr(d, ["cleanup", "-w", ws_id, "--keep", "1"], "WorkspaceNotFound", user=BOB)
    usage_json(d, ["cleanup", "-w", ws, "--keep", "x", "--json"])


# --------------------------------------------------------------------------- recover / unregister

def test_json_recover(daemon):
    d = daemon
    w1 = d.make_ws(ALICE, {"one": "1\n"})
    w2 = d.make_ws(ALICE, {"two": "2\n"})
    id1, id2 = init_ws(d, ALICE, w1), init_ws(d, ALICE, w2)
    checkpoint(d, ALICE, w1, "x")
    checkpoint(d, ALICE, w2, "x")

    # recover cannot prompt in JSON mode
    p = usage_json(d, ["recover", "-w", w1, "--json"])
    assert "--force" in p.stderr
    assert os.path.islink(w1)
    jerr(d, ["recover", "-w", "ws-000000", "--force"], "WorkspaceNotFound")

    doc, _ = jrun(d, ["recover", "-w", w1, "--force"])
    assert doc == {"recovered": 1, "failed": 0,
                   "results": [{"ws_id": id1, "workspace": str(w1), "ok": True}]}
    assert not os.path.islink(w1) and wsck.read_text(w1 / "one") == "1\n"

    # --all with one failure: per-workspace outcome, exit 1
    w3 = d.make_ws(ALICE, {"three": "3\n"})
    id3 = init_ws(d, ALICE, w3)
    os.unlink(w2)
    os.mkdir(w2)  # a directory where the workspace symlink was: recover refuses
    doc, p = jrun(d, ["recover", "--all", "--force"], check=1)
    assert doc["recovered"] == 1 and doc["failed"] == 1, doc
    by_id = {r["ws_id"]: r for r in doc["results"]}
    assert set(by_id) == {id2, id3}
    assert by_id[id3] == {"ws_id": id3, "workspace": str(w3), "ok": True}
    bad = by_id[id2]
    assert bad["ok"] is False and bad["workspace"] == str(w2)
    assert set(bad["error"]) == {"code", "message"} and bad["error"]["code"] and bad["error"]["message"]
    assert id2 in p.stderr or str(w2) in p.stderr

    # bob sees nothing to recover
    doc, _ = jrun(d, ["recover", "--all", "--force"], user=BOB)
    assert doc == {"recovered": 0, "failed": 0, "results": []}
    os.rmdir(w2)


def test_json_unregister(daemon):
    d = daemon
    ws = d.make_ws(ALICE, {"f": "v1\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "u1")
    r = d.raw({"v": 1, "id": 1, "op": "unregister", "workspace": ws_id}, user=ALICE)
    jerr(d, ["unregister", "-w", ws], wsck.err_code(r))
    d.stop()
    wsck.run(["btrfs", "subvolume", "delete", os.path.join(str(d.mnt), ws_id)])
    d.start()
    doc, _ = jrun(d, ["unregister", "-w", ws_id])
    assert set(doc) == {"ws_id", "workspace", "archived_index"}
    assert doc["ws_id"] == ws_id and doc["workspace"] == str(ws)
    assert os.path.basename(doc["archived_index"]).startswith(ws_id + ".unregistered-")
    assert d.state()["workspaces"] == []
    jerr(d, ["unregister", "-w", ws_id], "WorkspaceNotFound")


# --------------------------------------------------------------------------- config / reload / version

def test_json_config_reload_version(make_daemon):
    d = make_daemon(admin_group=ADMIN_GROUP)

    doc, _ = jrun(d, ["config"])
    assert set(doc) >= {"config_file", "values"}
    assert doc["config_file"] == str(d.conf)
    v = doc["values"]
    assert v["auto_cleanup"] == {"value": False, "set": False}
    assert v["img_size"] == {"value": 1, "set": True}
    assert v["socket_path"] == {"value": str(d.sock), "set": True}
    assert v["mount_path"]["value"] == str(d.mnt)
    assert all(set(x) == {"value", "set"} for x in v.values()), v

    # updating needs the admin group (bob); alice gets the daemon's PermissionDenied
    jerr(d, ["config", "--health-check-interval", "120"], "PermissionDenied")
    doc, _ = jrun(d, ["config", "--health-check-interval", "120", "--img-size", "2"], user=BOB)
    assert set(doc) == {"changed", "restart_required"}
    assert set(doc["changed"]) == {"health_check_interval_secs", "img_size"}
    assert doc["restart_required"] == ["img_size"]
    doc, _ = jrun(d, ["config"])
    assert doc["values"]["health_check_interval_secs"] == {"value": 120, "set": True}

    jerr(d, ["reload"], "PermissionDenied")
    doc, _ = jrun(d, ["reload"], user=BOB)
    assert doc == {"reloaded": True}
    usage_json(d, ["config", "--img-max-percent", "200", "--json"])

    doc, _ = jrun(d, ["version"])
    cli_version = wsck.run([str(wsck.CLI), "--version"]).stdout.split()[-1]
    assert doc == {"cli_version": cli_version, "daemon_version": cli_version, "protocol": 1,
                   "cli_protocol": 1}
    usage_json(d, ["version", "--json", "extra"])


# --------------------------------------------------------------------------- list / status / diff errors, client errors

def test_json_errors_of_list_status_diff_and_client(daemon):
    d = daemon
    ws = d.make_ws(ALICE)
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    # successes keep their shapes
    doc, _ = jrun(d, ["list", "-w", ws])
    assert [e["id"] for e in doc] == ["s1"] and doc[0]["workspace"] == str(ws)
    doc, _ = jrun(d, ["status", "-w", ws])
    assert [w["ws_id"] for w in doc["workspaces"]] == [ws_id]
    doc, _ = jrun(d, ["diff", "-w", ws, "-f", "s1"])
    assert doc == []
    # errors now print the error document too
    jerr(d, ["list", "-w", ws_id], "WorkspaceNotFound", user=BOB)
    jerr(d, ["status", "-w", ws_id], "WorkspaceNotFound", user=BOB)
    jerr(d, ["diff", "-w", ws, "-f", "nope"], "SnapshotNotFound")
    # the CLI's own failures (no daemon) use the code ClientError
    err = jerr(d, ["list"], "ClientError",
               env_extra={"WS_CKPT_SOCKET": str(d.dir / "no-such.sock")})
    assert "not running" in err["message"], err
    err = jerr(d, ["version"], "ClientError",
               env_extra={"WS_CKPT_SOCKET": str(d.dir / "no-such.sock")})
    # table mode is unchanged: errors on stderr only
    p = d.cli(["list", "-w", ws_id], user=BOB, check=1)
    assert p.stdout == "" and "WorkspaceNotFound" in p.stderr


# --------------------------------------------------------------------------- cleanup "space" (stub daemon)

class StubDaemon:
    """A socket that answers every request line with a canned result for its op (the real
    daemon does not send cleanup's "space" object yet)."""

    def __init__(self, path, results):
        import socket
        import threading
        self.results = results
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        os.chmod(path, 0o777)
        self.srv.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                try:
                    req = json.loads(buf)
                except ValueError:
                    continue
                res = self.results.get(req.get("op"), {})
                conn.sendall(json.dumps({"id": req.get("id"), "ok": True, "result": res})
                             .encode() + b"\n")

    def close(self):
        self.srv.close()


def stub_cli(sock, args, user=ALICE, check=0):
    env = wsck.user_env(user, {"WS_CKPT_SOCKET": str(sock)})
    p = wsck.run_as(user, [str(wsck.CLI)] + list(args), env=env)
    assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


def test_cleanup_space_object_passed_through():
    import shutil
    import tempfile
    from pathlib import Path
    tmp = Path(tempfile.mkdtemp(prefix=wsck.TMP_PREFIX, dir="/tmp"))
    os.chmod(tmp, 0o755)  # the test user must reach the socket
    sock = tmp / "stub.sock"
    done = {"freed_bytes": 12897485, "cleaner_done": True, "waited_ms": 340, "pending": 0}
    pending = {"freed_bytes": 0, "cleaner_done": False, "waited_ms": 5000, "pending": 3}
    results = {"status": {"workspaces": []},
               "cleanup": {"ws_id": "ws-6d5aaa", "removed": ["a", "b"], "space": done}}
    stub = StubDaemon(sock, results)
    try:
        p = stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa", "--json"])
        doc = json.loads(p.stdout)
        assert doc == {"ws_id": "ws-6d5aaa", "removed": ["a", "b"], "space": done}
        assert p.stdout == json.dumps(doc, indent=2) + "\n"
        p = stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa"])
        assert "Cleaned up 2 snapshot(s)" in p.stdout and "Freed 12.3 MiB" in p.stdout, p.stdout
        assert "reclaiming" not in p.stderr

        results["cleanup"]["space"] = pending
        doc = json.loads(stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa", "--json"]).stdout)
        assert doc["space"] == pending
        p = stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa"])
        assert "Freed" not in p.stdout
        assert "⚠" in p.stderr and "still reclaiming space from 3 deleted snapshot(s)" in p.stderr

        # absent (today's daemon): no "space" key, no line about it
        del results["cleanup"]["space"]
        doc = json.loads(stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa", "--json"]).stdout)
        assert doc == {"ws_id": "ws-6d5aaa", "removed": ["a", "b"]}
        p = stub_cli(sock, ["cleanup", "-w", "ws-6d5aaa"])
        assert "Freed" not in p.stdout and "reclaiming" not in p.stderr
    finally:
        stub.close()
        shutil.rmtree(tmp)
