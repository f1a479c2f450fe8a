"""The index journal (privd/index_journal.c) with a real daemon.

Between two rewrites of index.json, each save appends one record to
indexes/<ws_id>/index.journal. These tests check that every kind of change a user can
make (checkpoint with message/metadata, pin, unpin, delete with its reparenting, rollback
moving the head) survives kill -9 through the journal alone, that a clean stop leaves
index.json whole (the Rust ws-ckpt reads only that file), and that a crash in the middle
of folding the journal into index.json loses or repeats nothing.
"""
import json

import wsck
from wsck import ALICE, checkpoint, init_ws, list_ids, list_json

CRASH_RC = 86


def history(d, ws_id):
    """What the index says beyond list: head and each snapshot's parent."""
    idx = d.index(ws_id)
    return idx.get("head"), {k: v.get("parent") for k, v in idx["snapshots"].items()}


def journal(d, ws_id):
    return d.index_file(ws_id).parent / "index.journal"


def make_changes(d):
    """Every kind of index change, as alice; returns (ws path, ws_id)."""
    ws = d.make_ws(ALICE, {"f.txt": "1\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1", "-m", "first one", "--metadata", '{"agent":"x","n":[1,2]}')
    wsck.write_as(ALICE, ws / "f.txt", "2\n")
    checkpoint(d, ALICE, ws, "s2", "--pin")
    wsck.write_as(ALICE, ws / "f.txt", "3\n")
    checkpoint(d, ALICE, ws, "s3", "-m", "third")
    checkpoint(d, ALICE, ws, "s4")
    d.cli(["unpin", "-w", ws, "-s", "s2"], user=ALICE)
    d.cli(["pin", "-w", ws, "-s", "s3"], user=ALICE)
    d.cli(["delete", "-w", ws, "-s", "s2", "--force"], user=ALICE)  # s3's parent becomes s1
    d.cli(["rollback", "-w", ws, "-s", "s1", "--discard-current"], user=ALICE)
    return ws, ws_id


def assert_expected(d, ws, ws_id, before):
    after = list_json(d, ALICE, str(ws))
    assert after == before
    ids = [e["id"] for e in after]
    assert ids == ["s1", "s3", "s4"], ids
    meta = {e["id"]: e["meta"] for e in after}
    assert meta["s1"]["message"] == "first one"
    assert meta["s1"]["metadata"] == {"agent": "x", "n": [1, 2]}
    assert meta["s3"]["pinned"] is True and meta["s3"]["message"] == "third"
    head, parents = history(d, ws_id)
    assert head == "s1"
    assert parents == {"s1": None, "s3": "s1", "s4": "s3"}, parents


def test_changes_survive_kill9_through_the_journal(make_daemon):
    d = make_daemon()
    ws, ws_id = make_changes(d)
    before = list_json(d, ALICE, str(ws))
    j = journal(d, ws_id)
    assert j.exists() and j.stat().st_size > 0, "saves after init should go to the journal"
    # index.json alone is behind: the journal holds the changes
    assert "s4" not in d.index_json_only(ws_id)["snapshots"]
    lines = [json.loads(x) for x in j.read_text().splitlines()]
    assert [x["seq"] for x in lines] == sorted({x["seq"] for x in lines})
    assert j.stat().st_mode & 0o777 == 0o600
    d.kill9()
    d.start()
    assert_expected(d, ws, ws_id, before)
    assert not j.exists(), "the journal should be folded into index.json at start"
    # and the folded index keeps working for new changes
    checkpoint(d, ALICE, ws, "s5")
    d.kill9()
    d.start()
    assert [e["id"] for e in list_json(d, ALICE, str(ws))] == ["s1", "s3", "s4", "s5"]


def test_clean_stop_leaves_index_json_whole(make_daemon):
    d = make_daemon()
    ws, ws_id = make_changes(d)
    before = list_json(d, ALICE, str(ws))
    d.stop()
    assert not journal(d, ws_id).exists()
    idx = d.index_json_only(ws_id)
    assert sorted(idx["snapshots"]) == ["s1", "s3", "s4"]
    assert idx["snapshots"]["s1"]["message"] == "first one"
    assert idx["snapshots"]["s3"]["pinned"] is True
    d.start()
    assert_expected(d, ws, ws_id, before)


def test_torn_record_is_dropped(make_daemon):
    d = make_daemon()
    ws, ws_id = make_changes(d)
    before = list_json(d, ALICE, str(ws))
    d.kill9()
    with open(journal(d, ws_id), "a") as f:  # a save cut short by the crash
        f.write('{"seq":99,"head":"s9","pending_delete":[],"del":["s1"],"put":{"s9":{"crea')
    d.start()
    assert_expected(d, ws, ws_id, before)
    assert "dropped" in d.log_tail(200)


def test_crash_while_folding_the_journal(make_flex_daemon):
    """Crash after index.json was rewritten, before the journal was removed: the next
    start must not apply the journal's (older) records again."""
    assert wsck.TEST_BUILD.joinpath("ws-ckptd").exists(), "run `make testbins`"
    d = make_flex_daemon()
    ws, ws_id = make_changes(d)
    before = list_json(d, ALICE, str(ws))
    d.kill9()
    old_journal = journal(d, ws_id).read_text()
    d.bin_dir = wsck.TEST_BUILD
    d.env_extra = {"WSCKPT_CRASH_AT": "index.compacted"}
    d.start(wait=False)
    assert d.wait_exit(30) == CRASH_RC, d.log_tail()
    # the crash left both: the rewritten index.json and the old journal
    assert journal(d, ws_id).read_text() == old_journal
    assert sorted(d.index_json_only(ws_id)["snapshots"]) == ["s1", "s3", "s4"]
    d.bin_dir = wsck.BUILD
    d.env_extra = {}
    d.start()
    assert_expected(d, ws, ws_id, before)
    assert not journal(d, ws_id).exists()


def test_delete_intents_go_with_the_next_commit(make_daemon):
    """A delete answers on its journaled intent; the intent goes once a btrfs commit covers
    the delete: the workspace's next checkpoint, a clean stop, or, after a long run of
    deletes, one commit for all of them (so an index record never carries many)."""
    d = make_daemon()
    ws = d.make_ws(ALICE, {"a.txt": "a\n"})
    ws_id = init_ws(d, ALICE, ws)
    for i in range(24):
        wsck.write_as(ALICE, ws / "a.txt", "v%d\n" % i)
        checkpoint(d, ALICE, ws, "s%02d" % i)
    d.cli(["delete", "-w", ws, "-s", "s00", "--force"], user=ALICE)
    assert d.index(ws_id).get("pending_delete", []) == ["s00"]
    assert "s00" not in d.snapshots_on_disk(ws_id)
    checkpoint(d, ALICE, ws, "n1")
    assert d.index(ws_id).get("pending_delete", []) == []
    most = 0
    for i in range(1, 21):
        d.cli(["delete", "-w", ws, "-s", "s%02d" % i, "--force"], user=ALICE)
        most = max(most, len(d.index(ws_id).get("pending_delete", [])))
    assert 0 < most <= 16, most
    assert len(d.index(ws_id).get("pending_delete", [])) < 20
    d.stop()
    assert not d.index_json_only(ws_id).get("pending_delete"), d.index_json_only(ws_id)
    d.start()
    assert list_ids(d, ALICE, str(ws)) == ["s21", "s22", "s23", "n1"]
    assert "adopted" not in d.log, d.log_tail()


def test_a_checkpoint_whose_snapshot_fails_takes_its_record_back(make_daemon):
    """The record of a checkpoint is written while its snapshot is made: when the
    snapshot then fails, the record is taken back at once."""
    d = make_daemon()
    ws, ws_id = make_changes(d)
    checkpoint(d, ALICE, ws, "s5")
    assert d.index(ws_id)["head"] == "s5"
    # a plain file of that name in the bucket makes the snapshot ioctl fail (EEXIST)
    d.snap_dir(ws_id, "s9").write_text("not a snapshot\n")
    p = d.cli(["checkpoint", "-w", str(ws), "-i", "s9"], user=ALICE, check=None)
    assert p.returncode != 0, p.stdout
    idx = d.index(ws_id)
    assert "s9" not in idx["snapshots"] and "creating" not in idx, idx
    assert idx["head"] == "s5"


def test_a_stray_subvolume_is_not_taken_for_a_checkpoint(make_flex_daemon):
    """A checkpoint recorded ahead of its snapshot is kept at the start if a subvolume of
    its name is there; so a name already taken in the bucket is not recorded ahead.
    Stopped before its snapshot, such a checkpoint leaves no record, and the stray
    subvolume is adopted as what it is, not passed off as the checkpoint."""
    d = make_flex_daemon(bin_dir=wsck.TEST_BUILD)
    ws, ws_id = make_changes(d)
    checkpoint(d, ALICE, ws, "s5")
    d.stop()
    d.env_extra = {"WSCKPT_CRASH_AT": "checkpoint.begun"}
    d.start()
    wsck.run(["btrfs", "subvolume", "create", str(d.snap_dir(ws_id, "s9"))])
    p = d.cli(["checkpoint", "-w", ws, "-i", "s9", "-m", "mine"], user=ALICE, check=None)
    assert p.returncode != 0
    assert d.wait_exit(30) is not None
    d.env_extra = {}
    d.bin_dir = wsck.BUILD
    d.start()
    s9 = [e for e in list_json(d, ALICE, str(ws)) if e["id"] == "s9"]
    assert len(s9) == 1 and s9[0]["meta"].get("message") != "mine", s9
    assert "was recorded but its snapshot was not made" not in d.log
    assert d.index(ws_id)["head"] == "s5"
