"""A rollback that discards the replaced state is answered before btrfs commits its
exchange: the durable index record ("rollback_intent") lets the next start redo an
exchange a power cut undid.

test_power_cut.py stages real power cuts; these tests rebuild by hand, with the daemon
dead, the states a crash can leave around an intent (an exchange undone with
renameat2(RENAME_EXCHANGE), a leftover temporary), including ones a cut at a chosen
instant cannot produce on demand.
"""
import ctypes
import json
import os
import re

import pytest

import wsck
from wsck import ALICE, checkpoint, files_of, list_json, set_files

AT_FDCWD = -100
RENAME_EXCHANGE = 2
V1 = {"a.txt": "one\n", "dir/b.txt": "b1\n"}
V2 = {"a.txt": "two\n", "dir/b.txt": "b2\n", "new.txt": "added in v2\n"}
V3 = {"a.txt": "three\n", "dir/c.txt": "c3\n"}


def exchange(a, b):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)),
                      RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def scene(d):
    """Workspace with V1 in snapshot s1, live V2. Returns (ws, ws_id)."""
    ws = d.make_ws(ALICE, V1)
    checkpoint(d, ALICE, ws, "s1")
    set_files(ws, V2)
    return ws, d.ws_id_of(ws)


def intent(d, ws_id):
    return d.index(ws_id).get("rollback_intent")


def subvol_id(path):
    out = wsck.run(["btrfs", "inspect-internal", "rootid", str(path)]).stdout
    return int(out.strip())


def test_rollback_records_an_intent_that_a_checkpoint_settles(make_daemon):
    d = make_daemon()
    ws, ws_id = scene(d)
    # keeping the replaced state snapshots it, which commits the exchange: no intent
    r = d.cli(["rollback", "-w", str(ws), "-s", "s1", "--format", "json"], user=ALICE, check=0)
    auto = json.loads(r.stdout)["auto_snapshot"]
    assert files_of(ws) == V1
    assert intent(d, ws_id) is None
    assert not (d.mnt / (ws_id + ".rollback-tmp")).exists()
    assert wsck.subvol_readonly(d.snap_dir(ws_id, auto)) and files_of(d.snap_dir(ws_id, auto)) == V2
    checkpoint(d, ALICE, ws, "s2")
    # discarding it does not commit: the intent is the acknowledgement
    replaced = subvol_id(d.live_dir(ws_id))
    d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE, check=0)
    rb = intent(d, ws_id)
    # written before the copy of s1 existed, it names the subvolume the copy replaces;
    # the copy, live now, is newer: that is how a start tells which side is on disk
    assert rb["target"] == "s1" and rb["keep_as"] == "", rb
    assert rb["live_subvol"] == replaced and rb["tmp_subvol"] == 0, rb
    assert subvol_id(d.live_dir(ws_id)) > replaced
    # and it keeps the head of before: the start moves the head only with the exchange
    assert d.index(ws_id)["head"] == "s2"
    # a checkpoint's snapshot commits the exchange: the intent goes
    checkpoint(d, ALICE, ws, "s3")
    assert intent(d, ws_id) is None
    d.cli(["rollback", "-w", str(ws), "-s", "s2", "--discard-current"], user=ALICE, check=0)
    rb = intent(d, ws_id)
    assert rb["target"] == "s2" and rb["keep_as"] == "", rb
    # a clean stop commits and leaves a whole index.json without the intent
    d.stop()
    assert "rollback_intent" not in d.index_json_only(ws_id)
    d.start()
    assert files_of(ws) == V1  # s2 was taken after the rollback to s1


def test_discard_interrupted_before_the_answer_keeps_the_replaced_state(make_flex_daemon):
    """Crash after the intent, before the discard (and the answer), and the exchange lost
    too: the exchange is redone, and the state the caller asked to discard is kept as a
    snapshot, since the caller may never have been told."""
    d = make_flex_daemon()
    ws, ws_id = scene(d)
    d.crash_during("rollback.intent", ["rollback", "-w", str(ws), "-s", "s1",
                                       "--discard-current"], ALICE)
    live, tmp = d.live_dir(ws_id), d.mnt / (ws_id + ".rollback-tmp")
    assert files_of(tmp) == V2
    exchange(tmp, live)
    d.start()
    assert files_of(ws) == V1
    assert not tmp.exists()
    snaps = list_json(d, ALICE, str(ws))
    kept = [e["id"] for e in snaps if e["id"] != "s1"]
    assert len(kept) == 1 and kept[0].startswith("auto-recovered"), snaps
    assert files_of(d.snap_dir(ws_id, kept[0])) == V2
    assert intent(d, ws_id) is None


def test_a_later_leftover_is_not_taken_for_the_recorded_rollback(make_daemon):
    """The intent names subvolume ids: a temporary left by a later, unanswered rollback
    (a new subvolume) is kept as a snapshot, and the live workspace is not touched."""
    d = make_daemon()
    ws, ws_id = scene(d)
    d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE, check=0)
    d.kill9()
    live, tmp = d.live_dir(ws_id), d.mnt / (ws_id + ".rollback-tmp")
    wsck.run(["btrfs", "subvolume", "snapshot", str(d.snap_dir(ws_id, "s1")), str(tmp)])
    before_live = subvol_id(live)
    d.start()
    assert subvol_id(live) == before_live
    assert files_of(ws) == V1
    assert not tmp.exists()
    ids = [e["id"] for e in list_json(d, ALICE, str(ws))]
    assert len(ids) == 2 and ids[0] == "s1" and ids[1].startswith("auto-recovered"), ids
    assert intent(d, ws_id) is None


def nested_subvolume(ws):
    """A subvolume alice makes inside her workspace, with one file."""
    p = wsck.run_as(ALICE, ["btrfs", "subvolume", "create", str(ws / "nested-sv")])
    assert p.returncode == 0, p.stderr
    wsck.write_as(ALICE, ws / "nested-sv" / "inner.txt", "inner\n")


def test_discard_removes_subvolumes_nested_in_the_workspace(make_daemon):
    """The replaced state is deleted without a tree search unless it holds subvolumes of
    its own; then the recursive delete still removes them all."""
    d = make_daemon()
    ws, ws_id = scene(d)
    nested_subvolume(ws)
    before = wsck.run(["btrfs", "subvolume", "list", str(d.mnt)]).stdout
    assert re.search(r"path %s/nested-sv$" % ws_id, before, re.M), before
    d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE, check=0)
    assert files_of(ws) == V1
    after = wsck.run(["btrfs", "subvolume", "list", str(d.mnt)]).stdout
    assert "nested-sv" not in after, after
    assert not (d.mnt / (ws_id + ".rollback-tmp")).exists()


def test_keeping_a_state_with_nested_subvolumes_keeps_them_too(make_daemon):
    """The kept snapshot cannot hold a nested subvolume's files (btrfs snapshots stop at
    subvolume boundaries), so the replaced tree is kept whole as well, never deleted."""
    d = make_daemon()
    ws, ws_id = scene(d)
    nested_subvolume(ws)
    r = d.cli(["rollback", "-w", str(ws), "-s", "s1", "--format", "json"], user=ALICE, check=0)
    auto = json.loads(r.stdout)["auto_snapshot"]
    assert files_of(ws) == V1
    assert files_of(d.snap_dir(ws_id, auto)) == V2  # the snapshot: nested-sv is an empty dir
    ids = [e["id"] for e in list_json(d, ALICE, str(ws))]
    whole = [i for i in ids if i.startswith("auto-nested")]
    assert ids[:2] == ["s1", auto] and len(whole) == 1 and len(ids) == 3, ids
    assert files_of(d.snap_dir(ws_id, whole[0])) == dict(V2, **{"nested-sv/inner.txt": "inner\n"})
    assert wsck.subvol_readonly(d.snap_dir(ws_id, whole[0]))
    assert not (d.mnt / (ws_id + ".rollback-tmp")).exists()


def committed_generation(d):
    """The generation btrfs last committed (the superblock's), read from the device."""
    dev = wsck.run(["findmnt", "-n", "-o", "SOURCE", str(d.mnt)]).stdout.strip()
    out = wsck.run(["btrfs", "inspect-internal", "dump-super", dev]).stdout
    return int(re.search(r"^generation\s+(\d+)$", out, re.M).group(1))


def test_start_commits_the_exchange_before_clearing_the_intent(make_daemon):
    """kill -9 commits nothing: if the next start cleared the intent without a commit, a
    power cut soon after would undo the rollback with no record left to redo it."""
    d = make_daemon()
    ws, ws_id = scene(d)
    # no periodic commit during the test: the exchange stays uncommitted until someone asks
    wsck.run(["mount", "-o", "remount,commit=300", str(d.mnt)])
    d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE, check=0)
    before = committed_generation(d)
    d.kill9()
    assert committed_generation(d) == before, "something committed the exchange already"
    d.start()
    assert intent(d, ws_id) is None
    assert committed_generation(d) > before, "the intent was cleared with the exchange uncommitted"
    assert files_of(ws) == V1


def test_a_kept_leftover_is_committed_before_it_is_recorded(make_flex_daemon):
    """Crash after the exchange, before the intent: the replaced state left at the
    temporary name becomes an auto-recovered snapshot, and the move is committed (setting
    the read-only flag commits), so a power cut cannot leave a record of a snapshot that is
    not there."""
    d = make_flex_daemon()
    ws, ws_id = scene(d)
    wsck.run(["mount", "-o", "remount,commit=300", str(d.mnt)])
    d.crash_during("rollback.exchanged", ["rollback", "-w", str(ws), "-s", "s1"], ALICE)
    before = committed_generation(d)
    d.start()
    ids = [e["id"] for e in list_json(d, ALICE, str(ws))]
    assert len(ids) == 2 and ids[1].startswith("auto-recovered"), ids
    assert files_of(d.snap_dir(ws_id, ids[1])) == V2
    assert committed_generation(d) > before


def test_a_pending_delete_never_removes_a_recorded_snapshot(make_daemon):
    """A name deleted and then checkpointed again: were its delete intent still recorded
    (its commit failed), the start must keep the recorded snapshot, not finish the
    delete on it."""
    d = make_daemon()
    ws, ws_id = scene(d)
    d.stop()
    idx = d.index_json_only(ws_id)
    idx["pending_delete"] = ["s1"]
    d.index_file(ws_id).write_text(json.dumps(idx))
    d.start()
    assert "recorded and also pending deletion: kept" in d.log, d.log_tail()
    assert [e["id"] for e in list_json(d, ALICE, str(ws))] == ["s1"]
    assert files_of(d.snap_dir(ws_id, "s1")) == V1
    assert not d.index(ws_id).get("pending_delete")


def test_a_failed_discarding_rollback_takes_its_intent_back(make_daemon):
    """The intent is written before the snapshot: when the snapshot then fails, the
    record is overwritten, so that no start finishes a rollback its caller was told had
    failed (here a later rollback's temporary would otherwise be taken for its copy)."""
    d = make_daemon()
    ws, ws_id = scene(d)
    checkpoint(d, ALICE, ws, "s2")
    # the snapshot's subvolume goes behind the daemon's back: the rollback's snapshot fails
    wsck.run(["btrfs", "subvolume", "delete", str(d.snap_dir(ws_id, "s1"))])
    p = d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE,
              check=None)
    assert p.returncode != 0, p.stdout
    assert intent(d, ws_id) is None
    assert d.index(ws_id)["head"] == "s2"
    assert files_of(ws) == V2
    assert not (d.mnt / (ws_id + ".rollback-tmp")).exists()


def test_a_delete_of_the_target_keeps_the_head_it_set(make_daemon):
    """The record a rollback writes before its snapshot keeps the head of before, and the
    start moves the head to the target; a later record (here a delete of the target,
    which moves the head to its parent) already has the right head, and the start must
    leave it, not bring back the name of a deleted snapshot."""
    d = make_daemon()
    ws, ws_id = scene(d)
    checkpoint(d, ALICE, ws, "s2")
    checkpoint(d, ALICE, ws, "s3")
    d.cli(["rollback", "-w", str(ws), "-s", "s2", "--discard-current"], user=ALICE, check=0)
    d.cli(["delete", "-w", str(ws), "-s", "s2", "--force"], user=ALICE, check=0)
    assert intent(d, ws_id) is not None  # nothing committed the rollback yet
    head = d.index(ws_id)["head"]
    assert head == "s1"
    d.kill9()
    d.start()
    assert intent(d, ws_id) is None
    assert d.index(ws_id)["head"] == head
    assert [e["id"] for e in list_json(d, ALICE, str(ws))] == ["s1", "s3"]


@pytest.mark.parametrize("copy_of", ["s1", "s2"])
def test_only_a_copy_of_the_target_is_taken_for_the_lost_exchange(make_flex_daemon, copy_of):
    """The intent is written before the snapshot. A subvolume at the temporary name that
    is newer than the workspace is this rollback's copy only if it is a snapshot of the
    target: a power cut can also bring back the copy of an earlier rollback whose
    exchange failed (removed without a commit of its own). That one is kept, not
    exchanged in."""
    d = make_flex_daemon()
    ws, ws_id = scene(d)
    checkpoint(d, ALICE, ws, "s2")
    set_files(ws, V3)
    d.crash_during("rollback.begun", ["rollback", "-w", str(ws), "-s", "s1",
                                      "--discard-current"], ALICE)
    assert intent(d, ws_id)["target"] == "s1"
    tmp = d.mnt / (ws_id + ".rollback-tmp")
    assert not tmp.exists()
    # the state a power cut inside the snapshot ioctl could leave
    wsck.run(["btrfs", "subvolume", "snapshot", str(d.snap_dir(ws_id, copy_of)), str(tmp)])
    d.start()
    assert intent(d, ws_id) is None
    assert not tmp.exists()
    ids = [e["id"] for e in list_json(d, ALICE, str(ws))]
    kept = [i for i in ids if i.startswith("auto-recovered")]
    assert len(kept) == 1 and ids == ["s1", "s2"] + kept, ids
    if copy_of == "s1":  # the rollback's own copy: finished, what it replaced kept
        assert "rollback to s1 was acknowledged but not on disk" in d.log
        assert files_of(ws) == V1 and d.index(ws_id)["head"] == "s1"
        assert files_of(d.snap_dir(ws_id, kept[0])) == V3
    else:  # another rollback's copy: the workspace and its head are left as they were
        assert "redone" not in d.log
        assert files_of(ws) == V3 and d.index(ws_id)["head"] == "s2"
        assert files_of(d.snap_dir(ws_id, kept[0])) == V2
