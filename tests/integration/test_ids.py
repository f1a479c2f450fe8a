"""Snapshot id validation and hostile protocol input, through the raw socket and the CLI."""
import json
import os
import subprocess
import time

import pytest

import wsck
from wsck import ALICE, BOB, checkpoint, list_ids, err_code

INVALID_IDS = [
    "..",
    ".",
    "a/b",
    "../../etc",
    "/abs",
    "",
    ".x",
    "-x",
    "x" * 300,
    "x" * 129,
    "x\ny",
    "snäp",
    "日本語",
    "a b",
    "a\\b",
    "a*b",
    "a\tb",
]
# ids that can also be passed as a command-line argument (argv cannot hold NUL)
NUL_ID = "a\x00b"


class Ws:
    def __init__(self, d):
        self.d = d
        self.path = d.make_ws(ALICE, {"a.txt": "v1\n"})
        checkpoint(d, ALICE, self.path, "base")
        self.ws_id = d.ws_id_of(self.path)

    def fingerprint(self):
        d = self.d
        return {
            "mnt": d.tree(d.mnt, maxdepth=4),
            "state": sorted(os.listdir(d.state_dir)),
            "index": d.index(self.ws_id),
            "disk": d.snapshots_on_disk(self.ws_id),
            "live": wsck.read_text(self.path / "a.txt"),
        }


@pytest.fixture
def ws(daemon):
    return Ws(daemon)


def test_invalid_ids_rejected_by_protocol(daemon, ws):
    d = daemon
    wsck.write_as(ALICE, ws.path / "a.txt", "v2\n")
    before = ws.fingerprint()
    problems = []
    for sid in INVALID_IDS:
        for req in ({"op": "checkpoint", "workspace": str(ws.path), "snapshot": sid},
                    {"op": "checkpoint", "workspace": ws.ws_id, "snapshot": sid,
                     "message": "m"},
                    {"op": "rollback", "workspace": ws.ws_id, "snapshot": sid},
                    {"op": "rollback", "workspace": ws.ws_id, "snapshot": sid,
                     "discard_current": True},
                    {"op": "delete", "workspace": ws.ws_id, "snapshot": sid, "force": True},
                    {"op": "delete", "snapshot": sid, "force": True}):
            req = dict(req, v=1, id=7)
            r = d.raw(req, user=ALICE)
            if r.get("ok") is not False or r["error"]["code"] != "InvalidArgument":
                problems.append((req, r))
    # the same with non-ASCII sent as raw UTF-8 rather than \\u escapes
    for sid in ("snäp", "日本語"):
        line = json.dumps({"v": 1, "id": 8, "op": "checkpoint", "workspace": ws.ws_id,
                           "snapshot": sid}, ensure_ascii=False).encode() + b"\n"
        r = d.raw(line, user=ALICE)
        if r.get("ok") is not False or r["error"]["code"] != "InvalidArgument":
            problems.append((line, r))
    assert not problems, "\n".join(repr(p) for p in problems)
    assert ws.fingerprint() == before
    assert list_ids(d, ALICE, ws.ws_id) == ["base"]


def test_nul_bytes_in_strings_are_rejected(daemon, ws):
    """A \\u0000 inside a JSON string must not be silently cut (a\\0b acting on 'a')."""
    d = daemon
    checkpoint(d, ALICE, ws.path, "a")
    before = ws.fingerprint()
    problems = []
    for req in ({"op": "checkpoint", "workspace": ws.ws_id, "snapshot": NUL_ID},
                {"op": "rollback", "workspace": ws.ws_id, "snapshot": NUL_ID},
                {"op": "delete", "workspace": ws.ws_id, "snapshot": NUL_ID, "force": True},
                {"op": "delete", "snapshot": NUL_ID, "force": True}):
        r = d.raw(dict(req, v=1, id=1), user=ALICE)
        if r.get("ok") is not False or r["error"]["code"] != "InvalidArgument":
            problems.append((req, r))
    for req in ({"op": "list", "workspace": ws.ws_id + "\x00junk"},
                {"op": "list", "workspace": str(ws.path) + "\x00/junk"},
                {"op": "checkpoint", "workspace": str(ws.path) + "\x00x", "snapshot": "n1"}):
        r = d.raw(dict(req, v=1, id=2), user=ALICE)
        if r.get("ok") is not False:
            problems.append((req, r))
    assert not problems, "\n".join(repr(p) for p in problems)
    assert ws.fingerprint() == before


def test_invalid_id_does_not_initialise_a_directory(daemon):
    d = daemon
    fresh = d.make_ws(ALICE, {"f": "x\n"})
    for sid in ("..", "a/b", ""):
        r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": str(fresh), "snapshot": sid},
                  user=ALICE)
        assert err_code(r) == "InvalidArgument", (sid, r)
    assert os.path.isdir(fresh) and not os.path.islink(fresh)
    assert d.state().get("workspaces", []) == []


def test_id_length_limit_and_charset(daemon, ws):
    d = daemon
    before = ws.fingerprint()
    r = d.raw({"v": 1, "id": 1, "op": "checkpoint", "workspace": ws.ws_id,
               "snapshot": "a" * 129}, user=ALICE)
    assert err_code(r) == "InvalidArgument"
    assert ws.fingerprint() == before
    r = d.raw({"v": 1, "id": 2, "op": "checkpoint", "workspace": ws.ws_id,
               "snapshot": "a" * 128}, user=ALICE)
    assert r["ok"] is True, r
    assert r["result"]["snapshot"] == "a" * 128
    assert wsck.is_subvolume(d.snap_dir(ws.ws_id, "a" * 128))
    every = "Az09._:@+-z"
    checkpoint(d, ALICE, ws.path, every)
    assert wsck.is_subvolume(d.snap_dir(ws.ws_id, every))
    assert list_ids(d, ALICE, ws.ws_id) == ["base", "a" * 128, every]
    d.cli(["checkpoint", "-w", ws.path, "-i", "b" * 128], user=ALICE)
    d.cli(["rollback", "-w", ws.path, "-s", every, "--discard-current"], user=ALICE)
    d.cli(["delete", "-w", ws.path, "-s", "a" * 128, "--force"], user=ALICE)
    assert not os.path.lexists(d.snap_dir(ws.ws_id, "a" * 128))


def test_invalid_ids_rejected_by_cli_with_usage_error(daemon, ws):
    d = daemon
    before = ws.fingerprint()
    problems = []
    for sid in INVALID_IDS:
        for args in (["checkpoint", "-w", ws.path, "-i", sid],
                     ["rollback", "-w", ws.path, "-s", sid],
                     ["delete", "-w", ws.path, "-s", sid, "--force"]):
            p = d.cli(args, user=ALICE, check=None)
            if p.returncode != 2:
                problems.append((args, p.returncode, p.stdout, p.stderr))
    assert not problems, "\n".join(repr(p) for p in problems)
    assert ws.fingerprint() == before


def test_invalid_json_gets_protocol_error_and_daemon_keeps_serving(daemon, ws):
    d = daemon
    fpid = d.find_frontd()
    for bad in (b"{not json\n", b"[1,2,3]\n", b"\"just a string\"\n", b"42\n",
                b"{\"v\":1,\"id\":1,\"op\":\"version\"\n", b"\xff\xfe\x00garbage\n"):
        res = d.raw_session(bad, user=ALICE)
        assert not res["timeout"], (bad, res)
        assert res["replies"], (bad, res)
        r = res["replies"][0]
        assert r.get("ok") is False and r["error"]["code"] == "ProtocolError", (bad, r)
        assert r.get("id") is None, r
    # well-formed JSON with bad fields: InvalidArgument, id echoed
    for req in ({"v": 1, "id": 5, "op": "checkpoint", "workspace": ws.ws_id},
                {"v": 1, "id": 5, "op": "checkpoint", "workspace": ws.ws_id, "snapshot": 12},
                {"v": 1, "id": 5, "op": "list", "workspace": 7},
                {"v": 1, "id": 5, "op": "rollback", "workspace": ws.ws_id, "snapshot": "base",
                 "discard_current": "yes"},
                {"id": 5, "op": "version"}):
        r = d.raw(req, user=ALICE)
        assert r.get("id") == 5 and err_code(r) == "InvalidArgument", (req, r)
    for req in ({"v": 1, "id": 6, "op": "no-such-op"}, {"v": 2, "id": 6, "op": "version"}):
        r = d.raw(req, user=ALICE)
        assert r.get("ok") is False and r["error"]["code"] in ("InvalidArgument",
                                                              "ProtocolError"), (req, r)
    # one bad line does not spoil the connection for the next ones? (not required) --
    # but the daemon must still serve everybody, with the same frontd
    assert d.raw({"v": 1, "id": 9, "op": "version"}, user=ALICE)["ok"] is True
    d.cli(["list", "-w", ws.path], user=ALICE)
    assert d.running() and d.find_frontd() == fpid


def test_pipelined_requests_answered_in_order(daemon, ws):
    d = daemon
    res = d.raw_session([{"v": 1, "id": 11, "op": "version"},
                         {"v": 1, "id": 12, "op": "list", "workspace": ws.ws_id},
                         {"v": 1, "id": 13, "op": "checkpoint", "workspace": ws.ws_id,
                          "snapshot": "pipe"},
                         {"v": 1, "id": 14, "op": "list", "workspace": ws.ws_id}],
                        user=ALICE, nreplies=4)
    rs = res["replies"]
    assert [r.get("id") for r in rs] == [11, 12, 13, 14], res
    assert all(r["ok"] for r in rs), rs
    assert [s["id"] for s in rs[1]["result"]["snapshots"]] == ["base"]
    assert [s["id"] for s in rs[3]["result"]["snapshots"]] == ["base", "pipe"]


def test_line_longer_than_1mib(daemon, ws):
    d = daemon
    fpid = d.find_frontd()
    pad = "x" * (1 << 20)
    line = (json.dumps({"v": 1, "id": 1, "op": "version", "pad": pad}) + "\n").encode()
    assert len(line) > (1 << 20)
    res = d.raw_session(line, timeout=20)
    assert not res["timeout"], "daemon neither answered nor closed: %s" % res
    for r in res["replies"]:
        assert r.get("ok") is False and r["error"]["code"] == "ProtocolError", r
    assert res["closed"] or res["replies"], res
    # an endless line without newline: also cut off
    res = d.raw_session(b"{" + b" " * (3 << 20), timeout=20)
    assert not res["timeout"], "daemon kept reading an endless line: %s" % {
        k: v for k, v in res.items() if k != "junk"}
    for r in res["replies"]:
        assert r["error"]["code"] == "ProtocolError", r
    # still serving, same frontd
    assert d.raw({"v": 1, "id": 2, "op": "version"})["ok"] is True
    d.cli(["list", "-w", ws.path], user=ALICE)
    assert d.running() and d.find_frontd() == fpid


def test_line_of_exactly_1mib_is_accepted(daemon):
    d = daemon
    base = json.dumps({"v": 1, "id": 1, "op": "version", "pad": ""})
    pad = "y" * ((1 << 20) - len(base) - 1)
    line = (json.dumps({"v": 1, "id": 1, "op": "version", "pad": pad}) + "\n").encode()
    assert len(line) == 1 << 20
    res = d.raw_session(line, timeout=20)
    assert res["replies"] and res["replies"][0].get("ok") is True, res


def test_message_and_metadata_limits(daemon, ws):
    d = daemon
    before = ws.fingerprint()

    def ck(snap, **kw):
        return d.raw(dict({"v": 1, "id": 1, "op": "checkpoint", "workspace": ws.ws_id,
                           "snapshot": snap}, **kw), user=ALICE)

    deep = 1
    for _ in range(40):
        deep = [deep]
    problems = []
    # too deep may already fail to parse as a line (ProtocolError)
    for name, kw, codes in (("long-message", {"message": "m" * 4097}, {"InvalidArgument"}),
                            ("message-type", {"message": 5}, {"InvalidArgument"}),
                            ("big-metadata", {"metadata": {"k": "x" * (65 * 1024)}},
                             {"InvalidArgument"}),
                            ("deep-metadata", {"metadata": deep},
                             {"InvalidArgument", "ProtocolError"})):
        r = ck("lim-" + name, **kw)
        if r.get("ok") is not False or r["error"]["code"] not in codes:
            problems.append((name, r))
    assert not problems, "\n".join(repr(p)[:300] for p in problems)
    assert ws.fingerprint() == before
    # at the limits and arbitrary JSON values round-trip
    values = {"ok-msg": {"message": "é\n\"quoted\"\t" + "m" * 4000},
              "ok-list": {"metadata": [1, "two", {"three": None}, True, 1.5]},
              "ok-str": {"metadata": "just a string"},
              "ok-num": {"metadata": 42},
              "ok-big": {"metadata": {"k": "x" * (60 * 1024)}}}
    for snap, kw in values.items():
        r = ck(snap, **kw)
        assert r["ok"] is True, (snap, r)
    by_id = {e["id"]: e["meta"] for e in wsck.list_json(d, ALICE, ws.ws_id)}
    for snap, kw in values.items():
        for k, v in kw.items():
            assert by_id[snap][k] == v, (snap, k)


HOLDER = r"""
import socket, sys
conns = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
        if i % 2:
            s.send(b'{"v":1,"id":1,"op":"ver')  # never finished
    except OSError:
        s.close()
        continue
    conns.append(s)
print(len(conns), flush=True)
sys.stdin.read()
"""


def test_many_idle_connections_do_not_starve_others(daemon, ws):
    """An unprivileged user holding many idle (and half-written) connections must not
    stop other users from being served."""
    d = daemon
    pw = wsck.user_info(ALICE)
    holder = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, str(d.sock), "300"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd="/", env=wsck.user_env(ALICE), user=pw.pw_uid,
                              group=pw.pw_gid, extra_groups=wsck.user_groups(ALICE))
    try:
        opened = int(holder.stdout.readline())
        assert opened > 0
        t0 = time.monotonic()
        bob_ws = d.make_ws(BOB)
        r = d.raw({"v": 1, "id": 1, "op": "init", "workspace": str(bob_ws)}, user=BOB,
                  timeout=10)
        assert r["ok"] is True, r
        assert d.raw({"v": 1, "id": 2, "op": "version"}, timeout=10)["ok"] is True
        assert time.monotonic() - t0 < 8
    finally:
        holder.stdin.close()
        holder.wait(10)
    # once alice lets go she is served again
    r = wsck.wait_until(lambda: d.raw({"v": 1, "id": 3, "op": "list", "workspace": ws.ws_id},
                                      user=ALICE).get("ok"), 5, interval=0.2)
    assert r, "alice not served after closing her connections"
