"""Authorization: users act only on their own workspaces; root and admins on all."""
import errno
import grp
import json
import os
import pwd
import stat

import pytest

import wsck
from wsck import (ALICE, BOB, EVE, ADMIN_GROUP, checkpoint, list_json, list_ids,
                  status_json, ws_ids_in_status, err_code)

DENIED = {"WorkspaceNotFound", "PermissionDenied"}
# checkpoint/init by path may also be refused as "not your directory"
DENIED_PATH = DENIED | {"InvalidPath"}
# checkpoint/init by the *path* of another user's workspace: that path is a symlink bob can
# readlink anyway, so "already managed" reveals nothing new; it must still change nothing.
DENIED_OWN_PATH = DENIED_PATH | {"AlreadyInitialized"}


class AliceWs:
    """alice's workspace with snapshots s1 (a=v1), s2 (a=v2), live a=v3."""

    def __init__(self, d):
        self.d = d
        self.path = d.make_ws(ALICE, {"a.txt": "v1\n"})
        checkpoint(d, ALICE, self.path, "s1", "-m", "one")
        wsck.write_as(ALICE, self.path / "a.txt", "v2\n")
        checkpoint(d, ALICE, self.path, "s2")
        wsck.write_as(ALICE, self.path / "a.txt", "v3\n")
        self.ws_id = d.ws_id_of(self.path)
        self.refs = [self.ws_id, str(self.path), str(d.live_dir(self.ws_id))]

    def fingerprint(self):
        d = self.d
        return {
            "index": d.index(self.ws_id),
            "disk": d.snapshots_on_disk(self.ws_id),
            "live": wsck.read_text(self.path / "a.txt"),
            "live_files": sorted(os.listdir(self.path)),
            "s1": wsck.read_text(d.snap_dir(self.ws_id, "s1") / "a.txt"),
            "islink": os.path.islink(self.path),
            "registered": [w for w in d.state()["workspaces"] if w["ws_id"] == self.ws_id],
            "alice_list": list_json(d, ALICE, str(self.path)),
        }


@pytest.fixture
def alice_ws(daemon):
    return AliceWs(daemon)


def test_bob_cli_cannot_touch_alices_workspace(daemon, alice_ws):
    d, a = daemon, alice_ws
    before = a.fingerprint()
    for ref in (str(a.path), a.ws_id):
        p = d.cli(["list", "-w", ref], user=BOB, check=1)
        assert "s1" not in p.stdout and "s2" not in p.stdout
        d.cli(["list", "-w", ref, "--format", "json"], user=BOB, check=1)
        d.cli(["status", "-w", ref], user=BOB, check=1)
        d.cli(["checkpoint", "-w", ref, "-i", "evil"], user=BOB, check=1)
        d.cli(["rollback", "-w", ref, "-s", "s1"], user=BOB, check=1)
        d.cli(["rollback", "-w", ref, "-s", "s1", "--discard-current"], user=BOB, check=1)
        d.cli(["delete", "-w", ref, "-s", "s1", "--force"], user=BOB, check=1)
    # global lookups hide alice's snapshots and workspace
    assert list_json(d, BOB) == []
    p = d.cli(["list"], user=BOB)
    assert "s1" not in p.stdout and str(a.path) not in p.stdout
    st = status_json(d, BOB)
    assert a.ws_id not in ws_ids_in_status(st) and str(a.path) not in json.dumps(st)
    d.cli(["delete", "-s", "s1", "--force"], user=BOB, check=1)
    p = d.cli(["init", "-w", a.path], user=BOB, check=None)
    assert p.returncode != 0 and a.ws_id not in p.stdout
    assert a.fingerprint() == before
    assert "evil" not in d.snapshots_on_disk(a.ws_id)


@pytest.mark.parametrize("ref_kind", ["ws_id", "path", "live_path"])
def test_bob_raw_cannot_touch_alices_workspace(daemon, alice_ws, ref_kind):
    d, a = daemon, alice_ws
    ref = {"ws_id": a.ws_id, "path": str(a.path), "live_path": str(d.live_dir(a.ws_id))}[ref_kind]
    before = a.fingerprint()
    reqs = [
        ({"op": "list", "workspace": ref}, DENIED),
        ({"op": "status", "workspace": ref}, DENIED),
        ({"op": "checkpoint", "workspace": ref, "snapshot": "evil"},
         {"ws_id": DENIED, "path": DENIED_OWN_PATH, "live_path": DENIED_PATH}[ref_kind]),
        ({"op": "rollback", "workspace": ref, "snapshot": "s1"}, DENIED),
        ({"op": "rollback", "workspace": ref, "snapshot": "s1", "discard_current": True}, DENIED),
        ({"op": "delete", "workspace": ref, "snapshot": "s1", "force": True}, DENIED),
        ({"op": "delete", "workspace": ref, "snapshot": "s2"}, DENIED),
        ({"op": "init", "workspace": ref}, DENIED_OWN_PATH),
    ]
    problems = []
    for i, (req, codes) in enumerate(reqs):
        req = dict(req, v=1, id=100 + i)
        r = d.raw(req, user=BOB)
        if r.get("ok") is not False or r["error"]["code"] not in codes:
            problems.append((req, r))
        elif a.ws_id in json.dumps(r) and ref_kind == "path":
            problems.append(("reply leaks alice's ws_id", req, r))
    assert not problems, "\n".join(repr(p) for p in problems)
    # global requests never show alice's things
    r = d.raw({"v": 1, "id": 1, "op": "list"}, user=BOB)
    assert r["ok"] is True and r["result"]["snapshots"] == [], r
    r = d.raw({"v": 1, "id": 2, "op": "status"}, user=BOB)
    assert r["ok"] is True, r
    assert a.ws_id not in ws_ids_in_status(r["result"]), r
    r = d.raw({"v": 1, "id": 3, "op": "delete", "snapshot": "s1", "force": True}, user=BOB)
    assert r["ok"] is False, r
    assert a.fingerprint() == before


def test_no_existence_oracle_for_other_users(daemon, alice_ws):
    """Another user's workspace looks exactly like a workspace that does not exist."""
    d, a = daemon, alice_ws
    unused = next("ws-%06x" % n for n in range(1, 99) if "ws-%06x" % n != a.ws_id)
    ghost_path = str(a.path.parent / "no-such-ws")
    for op in ("list", "status"):
        mine = err_code(d.raw({"v": 1, "id": 1, "op": op, "workspace": a.ws_id}, user=BOB))
        none = err_code(d.raw({"v": 1, "id": 1, "op": op, "workspace": unused}, user=BOB))
        assert mine == none, (op, mine, none)
    r1 = d.raw({"v": 1, "id": 1, "op": "rollback", "workspace": a.ws_id, "snapshot": "s1"},
               user=BOB)
    r2 = d.raw({"v": 1, "id": 1, "op": "rollback", "workspace": unused, "snapshot": "s1"},
               user=BOB)
    assert err_code(r1) == err_code(r2)
    r3 = d.raw({"v": 1, "id": 1, "op": "list", "workspace": ghost_path}, user=BOB)
    assert err_code(r3) == err_code(r1)


def test_other_users_cannot_list_snapshot_bucket(daemon, alice_ws):
    d, a = daemon, alice_ws
    bucket = d.snap_root(a.ws_id)
    for cmd in (["ls", bucket], ["cat", d.snap_dir(a.ws_id, "s1") / "a.txt"]):
        p = wsck.run_as(BOB, cmd)
        assert p.returncode != 0, "bob: %s worked: %s" % (cmd, p.stdout)
    # nor write into the mount's top level or the snapshots root
    for where in (d.mnt, d.mnt / "snapshots"):
        p = wsck.run_as(BOB, ["mkdir", where / "bobwashere"])
        assert p.returncode != 0
        assert not os.path.exists(where / "bobwashere")
    # nor into alice's live workspace beyond what her own modes allow (0755: read only)
    p = wsck.run_as(BOB, ["touch", a.path / "bob.txt"])
    assert p.returncode != 0 and not os.path.exists(a.path / "bob.txt")


def test_owner_can_list_own_snapshot_bucket(daemon, alice_ws):
    """DESIGN §3: snapshot buckets are 'not listable by other users' -- the owner can."""
    d, a = daemon, alice_ws
    p = wsck.run_as(ALICE, ["ls", d.snap_root(a.ws_id)])
    assert p.returncode == 0 and {"s1", "s2"} <= set(p.stdout.split()), p.stderr


def test_root_sees_everything(daemon, alice_ws):
    d, a = daemon, alice_ws
    bob_ws = d.make_ws(BOB, {"b.txt": "bob\n"})
    checkpoint(d, BOB, bob_ws, "b1")
    bob_id = d.ws_id_of(bob_ws)
    # root: everything
    ids = {(e["workspace"], e["id"]) for e in list_json(d)}
    assert {(str(a.path), "s1"), (str(a.path), "s2"), (str(bob_ws), "b1")} <= ids
    st = status_json(d)
    by_id = {w["ws_id"]: w for w in st["workspaces"]}
    assert by_id[a.ws_id]["owner_uid"] == wsck.user_info(ALICE).pw_uid
    assert by_id[bob_id]["owner_uid"] == wsck.user_info(BOB).pw_uid
    assert by_id[a.ws_id]["snapshot_count"] == 2
    # users: only their own
    assert {e["id"] for e in list_json(d, ALICE)} == {"s1", "s2"}
    assert {e["id"] for e in list_json(d, BOB)} == {"b1"}
    assert ws_ids_in_status(status_json(d, ALICE)) == {a.ws_id}
    assert ws_ids_in_status(status_json(d, BOB)) == {bob_id}
    # root acts on alice's workspace
    checkpoint(d, None, a.path, "by-root")
    assert "by-root" in list_ids(d, ALICE, str(a.path))
    d.cli(["rollback", "-w", a.ws_id, "-s", "s1", "--discard-current"])
    assert wsck.read_text(a.path / "a.txt") == "v1\n"
    d.cli(["delete", "-w", a.path, "-s", "by-root", "--force"])
    assert list_ids(d, ALICE, str(a.path)) == ["s1", "s2"]


def test_user_outside_socket_group_cannot_connect(daemon):
    d = daemon
    assert SOCK_GROUP_GID() not in wsck.user_groups(EVE)
    res = d.raw_session({"v": 1, "id": 1, "op": "version"}, user=EVE)
    assert res["connect_errno"] == errno.EACCES, res
    p = d.cli(["list"], user=EVE, check=1)
    assert p.stdout == "" or "snapshot" not in p.stdout.lower()
    # alice (in the group) can
    assert d.raw({"v": 1, "id": 1, "op": "version"}, user=ALICE)["ok"] is True


def SOCK_GROUP_GID():
    return grp.getgrnam(wsck.SOCK_GROUP).gr_gid


def test_admin_group_member_can_act_on_others(make_daemon):
    d = make_daemon(admin_group=ADMIN_GROUP)
    assert grp.getgrnam(ADMIN_GROUP).gr_gid in wsck.user_groups(BOB)
    a = AliceWs(d)
    assert set(list_ids(d, BOB, str(a.path))) == {"s1", "s2"}
    assert a.ws_id in ws_ids_in_status(status_json(d, BOB))
    checkpoint(d, BOB, a.path, "by-admin")
    assert "by-admin" in list_ids(d, ALICE, a.ws_id)
    p = d.cli(["rollback", "-w", a.ws_id, "-s", "s1", "--discard-current"], user=BOB)
    assert "s1" in p.stdout
    assert wsck.read_text(a.path / "a.txt") == "v1\n"
    d.cli(["delete", "-w", a.path, "-s", "by-admin", "--force"], user=BOB)
    assert list_ids(d, ALICE, str(a.path)) == ["s1", "s2"]
    # alice is not an admin: bob's workspace stays invisible to her
    bob_ws = d.make_ws(BOB)
    checkpoint(d, BOB, bob_ws, "b1")
    assert "b1" not in {e["id"] for e in list_json(d, ALICE)}
    d.cli(["list", "-w", bob_ws], user=ALICE, check=1)
    d.cli(["delete", "-w", bob_ws, "-s", "b1", "--force"], user=ALICE, check=1)
    assert list_ids(d, BOB, str(bob_ws)) == ["b1"]


def test_socket_and_image_permissions(daemon):
    d = daemon
    st = os.lstat(d.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_uid == 0 and st.st_gid == SOCK_GROUP_GID()
    st = os.stat(d.img)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0
    # state files are not writable by anyone but root
    for f in (d.state_dir, d.state_file, d.lock_file):
        m = stat.S_IMODE(os.stat(f).st_mode)
        assert not m & 0o022, "%s is group/world writable: %o" % (f, m)
        assert os.stat(f).st_uid == 0
    assert int(d.lock_file.read_text().strip()) == d.pid


def _ids(status, key):
    return [int(x) for x in status[key].split()]


def test_process_identities(daemon):
    d = daemon
    sys_pw = pwd.getpwnam(wsck.SYS_USER)
    pst = wsck.proc_status(d.pid)
    assert _ids(pst, "Uid") == [0, 0, 0, 0]
    fpid = d.find_frontd()
    assert fpid, "no ws-ckpt-frontd child of privd %d" % d.pid
    assert wsck.proc_exe(fpid) == str(wsck.FRONTD)
    fst = wsck.proc_status(fpid)
    assert _ids(fst, "Uid") == [sys_pw.pw_uid] * 4, fst["Uid"]
    assert _ids(fst, "Gid") == [sys_pw.pw_gid] * 4, fst["Gid"]
    assert 0 not in _ids(fst, "Groups"), fst["Groups"]


def test_frontd_is_sandboxed(daemon):
    fst = wsck.proc_status(daemon.find_frontd())
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(fst[cap], 16) == 0, "%s=%s" % (cap, fst[cap])
    assert fst["NoNewPrivs"].strip() == "1"
    assert fst["Seccomp"].strip() == "2", "frontd has no seccomp filter"


def test_privd_capabilities_reduced(daemon):
    pst = wsck.proc_status(daemon.pid)
    mine = int(wsck.proc_status(os.getpid())["CapEff"], 16)
    eff = int(pst["CapEff"], 16)
    CAP_SYS_ADMIN = 21
    assert eff & (1 << CAP_SYS_ADMIN), "privd lost CAP_SYS_ADMIN?"
    assert eff != mine, "privd kept every capability (%s)" % pst["CapEff"]


def test_privd_has_seccomp_filter(daemon):
    pst = wsck.proc_status(daemon.pid)
    assert pst["Seccomp"].strip() == "2", "privd runs without a seccomp filter"
