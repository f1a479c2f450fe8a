"""Power cuts, staged for real: the btrfs image sits on a disk that forgets every write no
flush covered (powercut_disk.py, a FUSE file under the loop device), and the test cuts
the power the instant ws-ckpt answers. Whatever ws-ckpt acknowledged must be there when
the host comes back: the next start sees the image exactly as the cut left it and the
state files as they were at that instant.

What is not staged: the host file system under the state directory is trusted to keep
what was fdatasync'd (its own power-cut behaviour is ext4's business); the state files are
copied while the daemon is stopped at the cut, so they hold everything it wrote by then.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import wsck
from wsck import ALICE, checkpoint, files_of, init_ws, list_ids, set_files

DISK_SERVER = wsck.HERE / "powercut_disk.py"
V1 = {"a.txt": "one\n", "dir/b.txt": "b1\n"}
V2 = {"a.txt": "two\n", "dir/b.txt": "b2\n", "new.txt": "added in v2\n"}
V3 = {"a.txt": "three\n", "dir/c.txt": "c3\n"}


def scene(d):
    """Alice's workspace: V1 in s1, then V2 written live. Returns (ws, ws_id)."""
    ws = d.make_ws(ALICE, V1)
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "s1")
    set_files(ws, V2)
    return ws, ws_id


class CutDisk:
    """The daemon's image on a powercut_disk; cut() stops the daemon and keeps what a
    power cut at that instant leaves; reboot() starts the daemon on it."""

    def __init__(self, d):
        self.d = d
        self.mp = d.dir / "disk"
        self.durable = d.dir / "durable.img"
        self.cut_img = d.dir / "cut.img"
        self.cut_state = d.dir / "state.cut"
        self.proc = None
        d.img = self.mp / "disk.img"   # Daemon.cleanup detaches loops backing it
        d.write_config()

    def start(self):
        self.mp.mkdir()
        with open(self.durable, "wb") as f:
            f.truncate(1 << 30)
        wsck.run(["mkfs.btrfs", "-q", "-f", str(self.durable)])
        log = open(self.d.dir / "disk.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(DISK_SERVER), str(self.durable),
                                      str(self.mp)], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        assert wsck.wait_until(lambda: os.path.ismount(self.mp) and self.d.img.exists(), 20), \
            (self.d.dir / "disk.log").read_text()

    def stats(self):
        return json.loads((self.mp / "stats").read_text())

    def _signal_all(self, sig):
        try:  # privd leads its session: frontd and workers stop too
            os.killpg(self.d.proc.pid, sig)
        except ProcessLookupError:  # all gone already (privd stopped at a crash point)
            pass

    def cut(self):
        """Freeze the daemon, cut the power, keep the state files of that instant, then
        kill the daemon and take the disk away. Returns the cut's record."""
        self._signal_all(signal.SIGSTOP)
        try:
            (self.mp / "ctl").write_text("cut %s" % self.cut_img)
            rec = self.stats()["cuts"][-1]
            shutil.copytree(self.d.state_dir, self.cut_state, symlinks=True)
        finally:
            self._signal_all(signal.SIGKILL)
            self.d.proc.wait(10)
        errors = self.close()
        assert not errors, errors
        return rec

    def close(self):
        """Take the disk away: the btrfs on it first (its loop device holds the image)."""
        errors = []
        if self.d.running():
            self.d.kill9()
        wsck.umount_all_under(self.d.mnt, errors)
        wsck.wait_until(lambda: not wsck.loops_backing(self.d.img), 10)
        for dev in wsck.loops_backing(self.d.img):
            wsck.run(["losetup", "-d", dev], check=False)
        if os.path.ismount(self.mp):
            wsck.umount_all_under(self.mp, errors)
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
        return errors

    def peek(self, rel):
        """Files at rel inside the image as the cut left it (mounted read-only)."""
        mp = self.d.dir / "peek"
        mp.mkdir(exist_ok=True)
        wsck.run(["mount", "-o", "ro,loop", str(self.cut_img), str(mp)])
        try:
            return files_of(mp / rel)
        finally:
            errors = []
            wsck.umount_all_under(mp, errors)
            assert not errors, errors

    def reboot(self):
        """The host comes back: the image as the cut left it, the state files of then."""
        os.rename(self.cut_img, self.d.img)  # self.mp is a plain directory again
        shutil.rmtree(self.d.state_dir)
        os.rename(self.cut_state, self.d.state_dir)
        self.d.start()


def with_cut_disk(make_daemon, body, **daemon_kw):
    d = make_daemon(start=False, **daemon_kw)
    disk = CutDisk(d)
    try:
        disk.start()
        d.start()
        body(d, disk)
    finally:
        errors = disk.close()
    assert not errors, errors


def test_discarding_rollback_acknowledged_before_a_power_cut_is_there_after_it(make_daemon):
    """--discard-current answers before btrfs commits the exchange: the cut loses it on
    disk, and the start redoes it from the journaled intent."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE)
        assert files_of(ws) == V1
        disk.cut()
        # the disk as the cut left it still has V2 live: the exchange was not committed
        # (it lived in btrfs's memory, not even among the disk's unflushed writes), so
        # this test does exercise the redo
        live_rel = d.live_dir(ws_id).relative_to(d.mnt)
        assert disk.peek(live_rel) == V2
        disk.reboot()
        assert files_of(ws) == V1
        assert "rollback to s1 was acknowledged but not on disk after a crash: redone" in d.log
        # the record kept the head of before (s2); the start moved it with the redo
        assert d.index(ws_id)["head"] == "s1"
        ids = list_ids(d, ALICE, str(ws))
        assert ids[:2] == ["s1", "s2"], ids
        # the replaced state (V2, also in s2) is kept, never silently dropped
        assert all(i in ("s1", "s2") or i.startswith("auto-recovered") for i in ids), ids
        assert files_of(d.snap_dir(ws_id, "s2")) == V2
        assert d.index(ws_id).get("rollback_intent") is None
        # and the workspace works on: a checkpoint of the rolled-back state
        checkpoint(d, ALICE, ws, "s3")
        assert files_of(d.snap_dir(ws_id, "s3")) == V1
    with_cut_disk(make_daemon, body)


def test_cut_during_the_next_rollback_keeps_the_first_one(make_flex_daemon):
    """A discarding rollback writes its intent while btrfs makes its snapshot, and only
    that snapshot's commit makes the previous rollback's exchange durable: a cut in
    between leaves on disk neither exchange and only the second intent, from which the
    start must still finish the first (acknowledged) rollback."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE)
        assert files_of(ws) == V1
        # the second rollback stops after its intent is written, before its snapshot
        p = d.cli(["rollback", "-w", str(ws), "-s", "s2", "--discard-current"], user=ALICE,
                  check=None)
        assert p.returncode != 0
        assert d.wait_exit(30) is not None
        disk.cut()
        live_rel = d.live_dir(ws_id).relative_to(d.mnt)
        assert disk.peek(live_rel) == V2  # the first exchange is not on the disk either
        d.env_extra, d.bin_dir = {}, wsck.BUILD
        disk.reboot()
        assert files_of(ws) == V1
        assert "the rollback before the one to s2 was acknowledged but not on disk" in d.log
        assert d.index(ws_id)["head"] == "s1"
        assert d.index(ws_id).get("rollback_intent") is None
        # the state the first rollback replaced is s2 unchanged: not kept a second time
        assert list_ids(d, ALICE, str(ws)) == ["s1", "s2"]
        assert "unchanged since it was kept as a snapshot" in d.log
        assert not (d.mnt / (ws_id + ".rollback-tmp")).exists()
        assert files_of(d.snap_dir(ws_id, "s2")) == V2
        checkpoint(d, ALICE, ws, "s3")
        assert files_of(d.snap_dir(ws_id, "s3")) == V1
    with_cut_disk(make_flex_daemon, body, bin_dir=wsck.TEST_BUILD,
                  env_extra={"WSCKPT_CRASH_AT": "rollback.begun#2"})


def test_cut_after_deleting_the_rollback_target_keeps_the_rollback(make_daemon):
    """Discarding rollback to s1, then delete s1, both answered before any commit: the
    cut loses the exchange and the delete. The start must redo the exchange (checking its
    copy against s1, which is back too) before it finishes the delete, and keep the head
    the delete set."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        d.cli(["rollback", "-w", str(ws), "-s", "s1", "--discard-current"], user=ALICE)
        d.cli(["delete", "-w", str(ws), "-s", "s1", "--force"], user=ALICE)
        head = d.index(ws_id).get("head")
        disk.cut()
        assert disk.peek(d.live_dir(ws_id).relative_to(d.mnt)) == V2
        assert disk.peek((d.snap_dir(ws_id, "s1")).relative_to(d.mnt)) == V1
        disk.reboot()
        assert files_of(ws) == V1
        assert "rollback to s1 was acknowledged but not on disk after a crash: redone" in d.log
        assert "finished interrupted delete of snapshot %s/s1" % ws_id in d.log
        assert list_ids(d, ALICE, str(ws)) == ["s2"]
        assert not d.snap_dir(ws_id, "s1").exists()
        assert d.index(ws_id).get("head") == head
    with_cut_disk(make_daemon, body)


def test_cut_while_a_checkpoint_reuses_a_deleted_name(make_flex_daemon):
    """A checkpoint's record is written while its snapshot is made, and marks it
    "creating": the start keeps the record if the subvolume is there. So a checkpoint
    is not recorded ahead while a delete is not yet committed: under the same name, a
    cut would bring the deleted one back, to be taken for the new one."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        d.cli(["delete", "-w", str(ws), "-s", "s2", "--force"], user=ALICE)
        set_files(ws, V3)
        # the checkpoint stops before its snapshot ioctl
        p = d.cli(["checkpoint", "-w", str(ws), "-i", "s2"], user=ALICE, check=None)
        assert p.returncode != 0
        assert d.wait_exit(30) is not None
        disk.cut()
        assert disk.peek(d.snap_dir(ws_id, "s2").relative_to(d.mnt)) == V2  # back
        d.env_extra, d.bin_dir = {}, wsck.BUILD
        disk.reboot()
        assert list_ids(d, ALICE, str(ws)) == ["s1"]
        assert not d.snap_dir(ws_id, "s2").exists()
        assert d.index(ws_id)["head"] == "s1"
        checkpoint(d, ALICE, ws, "s2")
        assert files_of(d.snap_dir(ws_id, "s2")) == files_of(ws)
    with_cut_disk(make_flex_daemon, body, bin_dir=wsck.TEST_BUILD,
                  env_extra={"WSCKPT_CRASH_AT": "checkpoint.begun#3"})


def test_rollback_keeping_the_replaced_state_survives_a_power_cut(make_daemon):
    def body(d, disk):
        ws, ws_id = scene(d)
        r = d.cli(["rollback", "-w", str(ws), "-s", "s1", "--format", "json"], user=ALICE)
        auto = json.loads(r.stdout)["auto_snapshot"]
        disk.cut()
        disk.reboot()
        assert files_of(ws) == V1
        assert list_ids(d, ALICE, str(ws)) == ["s1", auto]
        assert files_of(d.snap_dir(ws_id, auto)) == V2  # the state it replaced, unsaved before
        assert wsck.subvol_readonly(d.snap_dir(ws_id, auto))
    with_cut_disk(make_daemon, body)


def test_checkpoints_and_deletes_acknowledged_before_a_power_cut_are_there_after_it(
        make_daemon):
    """A delete answers on its journaled intent, before btrfs commits it: the cut brings
    the subvolume back, and the start deletes it again instead of adopting it."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        set_files(ws, V3)
        checkpoint(d, ALICE, ws, "s3")
        d.cli(["delete", "-w", str(ws), "-s", "s2", "--force"], user=ALICE)
        assert d.index(ws_id)["pending_delete"] == ["s2"]
        disk.cut()
        # the cut image still has s2: this test does exercise the redo
        bucket_rel = d.snap_root(ws_id).relative_to(d.mnt)
        assert "s2/a.txt" in disk.peek(bucket_rel)
        disk.reboot()
        assert "finished interrupted delete of snapshot %s/s2" % ws_id in d.log, d.log_tail()
        assert not re.search(r"adopted", d.log), d.log_tail()
        assert list_ids(d, ALICE, str(ws)) == ["s1", "s3"]
        assert files_of(d.snap_dir(ws_id, "s1")) == V1
        assert files_of(d.snap_dir(ws_id, "s3")) == V3
        assert d.snapshots_on_disk(ws_id) == {"s1", "s3"}
        # the live tree was last written before the s3 checkpoint, which flushed it
        assert files_of(ws) == V3
    with_cut_disk(make_daemon, body)


def test_delete_committed_by_the_next_checkpoint_stays_deleted(make_daemon):
    """The next checkpoint's snapshot commits an earlier delete and drops its intent: a
    cut after it finds the snapshot gone from the disk itself, nothing to redo or adopt."""
    def body(d, disk):
        ws, ws_id = scene(d)
        checkpoint(d, ALICE, ws, "s2")
        d.cli(["delete", "-w", str(ws), "-s", "s1", "--force"], user=ALICE)
        assert d.index(ws_id).get("pending_delete") == ["s1"]
        set_files(ws, V3)
        checkpoint(d, ALICE, ws, "s3")
        assert not d.index(ws_id).get("pending_delete")
        disk.cut()
        bucket_rel = d.snap_root(ws_id).relative_to(d.mnt)
        assert not any(p.startswith("s1/") for p in disk.peek(bucket_rel))
        disk.reboot()
        assert not re.search(r"finished interrupted delete|adopted", d.log), d.log_tail()
        assert list_ids(d, ALICE, str(ws)) == ["s2", "s3"]
        assert d.snapshots_on_disk(ws_id) == {"s2", "s3"}
        assert files_of(d.snap_dir(ws_id, "s3")) == V3
    with_cut_disk(make_daemon, body)


def test_init_acknowledged_before_a_power_cut_keeps_the_data(make_daemon):
    """init copies the directory into the image and removes the original: the copy must
    be on the disk, not only in btrfs's memory, before the answer."""
    def body(d, disk):
        ws = d.make_ws(ALICE, dict(V1, **{"big.bin": "x" * 300000}))
        ws_id = init_ws(d, ALICE, ws)
        assert os.path.islink(ws)
        disk.cut()
        assert disk.peek(d.live_dir(ws_id).relative_to(d.mnt)) == dict(V1, **{"big.bin": "x" * 300000})
        disk.reboot()
        assert files_of(ws) == dict(V1, **{"big.bin": "x" * 300000})
        checkpoint(d, ALICE, ws, "s1")
        assert files_of(d.snap_dir(ws_id, "s1")) == files_of(ws)
    with_cut_disk(make_daemon, body)


def test_recover_acknowledged_before_a_power_cut_stays_recovered(make_daemon):
    """recover copies the workspace back to a plain directory (on the host file system)
    and deletes its subvolumes: after a cut, the directory is there and the workspace is
    not managed any more, whatever btrfs had not committed."""
    def body(d, disk):
        ws = d.make_ws(ALICE, V1)
        ws_id = init_ws(d, ALICE, ws)
        checkpoint(d, ALICE, ws, "s1")
        set_files(ws, V2)  # not checkpointed, not flushed: recover must carry it over
        d.cli(["recover", "-w", str(ws), "--force"], user=ALICE)
        assert not os.path.islink(ws) and files_of(ws) == V2
        disk.cut()
        disk.reboot()
        assert not os.path.islink(ws) and files_of(ws) == V2
        assert ws_id not in wsck.ws_ids_in_status(wsck.status_json(d))
        # nothing of it is left in the image either: no live tree, no snapshot bucket
        assert not d.live_dir(ws_id).exists(), d.tree()
        assert not d.snap_root(ws_id).exists(), d.tree()
    with_cut_disk(make_daemon, body)


def _versions(d, n, pinned=()):
    """Alice's workspace with checkpoints c00..c<n-1>, a.txt saying "version <i>" in each.
    Returns (ws, ws_id, ids)."""
    ws = d.make_ws(ALICE, V1)
    ws_id = init_ws(d, ALICE, ws)
    ids = ["c%02d" % i for i in range(n)]
    for i, sid in enumerate(ids):
        wsck.write_as(ALICE, ws / "a.txt", "version %d\n" % i)
        checkpoint(d, ALICE, ws, sid, *(["--pin"] if sid in pinned else []))
    return ws, ws_id, ids


def test_cleanup_and_diff_acknowledged_before_a_power_cut_leave_nothing_behind(make_daemon):
    """Deleted snapshots and the diff's temporary snapshot stay deleted: the start finds
    no subvolume to adopt that the index had forgotten."""
    def body(d, disk):
        ws, ws_id, ids = _versions(d, 12)
        d.cli(["cleanup", "-w", str(ws), "--keep", "3"], user=ALICE)
        d.cli(["diff", "-w", str(ws), "-f", "c09"], user=ALICE)
        disk.cut()
        disk.reboot()
        assert list_ids(d, ALICE, str(ws)) == ids[-3:]
        assert d.snapshots_on_disk(ws_id) == set(ids[-3:])
        assert sorted(os.listdir(d.snap_root(ws_id))) == ids[-3:]  # no .diff-* temporary
        assert not re.search(r"adopted|recovered", d.log), d.log_tail()
        for i, sid in enumerate(ids[-3:], start=9):
            assert files_of(d.snap_dir(ws_id, sid))["a.txt"] == "version %d\n" % i
        assert not d.index(ws_id).get("pending_delete")
    with_cut_disk(make_daemon, body)


def test_auto_cleanup_seen_before_a_power_cut_stays_done(make_daemon):
    """Auto-cleanup answers nobody, so what counts is what a client could see: once list
    no longer shows the removed snapshots, a cut must not bring them back, and what it
    kept (the newest, the pinned) keeps its data. (The reclaim worker's sync, which
    usually lands before the cut, commits the deletes too: this checks the outcome, not
    which commit made it.)"""
    def body(d, disk):
        ws, ws_id, ids = _versions(d, 8, pinned=("c01",))
        kept = ["c01"] + ids[-2:]
        # privd runs the cleanup and answers list on one thread: when list shows only
        # these, the whole run (deletes, their commit, the index) is behind it
        assert wsck.wait_until(lambda: list_ids(d, ALICE, str(ws)) == kept, 30), \
            d.log_tail()
        disk.cut()
        disk.reboot()
        assert list_ids(d, ALICE, str(ws)) == kept
        assert d.snapshots_on_disk(ws_id) == set(kept)
        assert not re.search(r"adopted|recovered", d.log), d.log_tail()
        for sid in kept:
            assert files_of(d.snap_dir(ws_id, sid))["a.txt"] == "version %d\n" % ids.index(sid)
        assert not d.index(ws_id).get("pending_delete")
    with_cut_disk(make_daemon, body, extra_conf="auto_cleanup = true\n"
                  "auto_cleanup_keep = 2\nauto_cleanup_interval_secs = 1")


def _write(ws, ver):
    with open(ws / "a.txt", "w") as fh:  # not synced: a checkpoint or rollback must
        fh.write(ver + "\n")              # carry it to disk itself


def _stream(d, ws, ws_id, log, stop):
    """Checkpoints (sometimes reusing a deleted name), rollbacks discarding or keeping
    the replaced state (written just before, unsynced), and deletes, on one connection
    until the daemon stops answering. log gets [op, snapshot, version, acknowledged,
    extra] in order; a keeping rollback's extra is {"kept": version, "auto": id}."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(d.sock))
    f = s.makefile("rb")
    rnd = random.Random(ws_id)
    snaps, deleted, n = [], [], 0
    try:
        while not stop.is_set():
            n += 1
            extra = {}
            if snaps and rnd.random() < 0.25:
                sid, ver = rnd.choice(snaps)
                keep = rnd.random() < 0.5
                req = {"op": "rollback", "snapshot": sid, "discard_current": not keep}
                if keep:
                    extra = {"kept": "w%d" % n, "auto": None}
                entry = ["rollback", sid, ver]
            elif len(snaps) > 3 and rnd.random() < 0.3:
                sid, ver = snaps.pop(rnd.randrange(len(snaps)))
                deleted.append(sid)
                req = {"op": "delete", "snapshot": sid, "force": True}
                entry = ["delete", sid, ver]
            else:
                reuse = [x for x in deleted if x.startswith("k")]
                sid = reuse[0] if reuse and rnd.random() < 0.2 else "k%d" % n
                if sid in deleted:
                    deleted.remove(sid)
                ver = "v%d" % n
                req = {"op": "checkpoint", "snapshot": sid}
                entry = ["checkpoint", sid, ver]
            req.update({"v": 1, "id": n, "workspace": ws_id})
            log.append(entry + [False, extra])  # in flight from before its data is written
            if entry[0] == "checkpoint":
                _write(ws, ver)
            elif extra:
                _write(ws, extra["kept"])
            s.sendall(wsck.encode_request(req))
            line = f.readline()
            if not line:
                return
            rep = json.loads(line)
            assert rep.get("ok"), rep
            log[-1][3] = True
            if entry[0] == "checkpoint":
                snaps.append((sid, ver))
            elif extra:
                extra["auto"] = rep["result"]["auto_snapshot"]
                snaps.append((extra["auto"], extra["kept"]))
    except (OSError, ValueError):
        return  # the daemon was stopped and killed under us
    finally:
        s.close()


def test_power_cut_at_a_random_instant_loses_nothing_acknowledged(make_daemon):
    """Operations stream on one connection; the power goes at a random instant, in the
    middle of whatever runs. After the start: every acknowledged checkpoint not
    acknowledged as deleted is listed, on disk and holds its data; no acknowledged delete
    is back; the index and the disk agree; only the operation in flight may go either
    way."""
    seed = int(os.environ.get("WSCKPT_TEST_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    for round_ in range(3):
        delay = rnd.uniform(0.3, 1.5)
        print("seed %d round %d: cut after %.2f s" % (seed, round_, delay))
        log = []

        def body(d, disk):
            ws = d.make_ws(None, {"a.txt": "start\n"})
            ws_id = init_ws(d, None, ws)
            stop = threading.Event()
            t = threading.Thread(target=_stream, args=(d, ws, ws_id, log, stop))
            t.start()
            time.sleep(delay)
            try:
                disk.cut()
            finally:
                stop.set()
                t.join(30)
            assert sum(1 for e in log if e[3]) >= 3, log  # the cut came mid-stream
            disk.reboot()
            in_flight = log[-1] if log and not log[-1][3] else None
            expect = {}
            for op, sid, ver, acked, extra in log:
                if not acked:
                    continue
                if op == "checkpoint":
                    expect[sid] = ver
                elif op == "delete":
                    expect.pop(sid, None)
                elif extra:
                    expect[extra["auto"]] = extra["kept"]
            listed = list_ids(d, None, str(ws))
            flexible = {in_flight[1]} if in_flight and in_flight[0] in ("checkpoint", "delete") \
                else set()
            assert set(expect) - flexible <= set(listed), (sorted(set(expect) - set(listed)), log)
            # A discarding rollback answered but not yet committed leaves its intent; the
            # start cannot know the answer went out and keeps the discarded state too.
            last_cp = max([i for i, e in enumerate(log) if e[0] == "checkpoint" and e[3]],
                          default=-1)
            intent_open = any(e[0] == "rollback" for e in log[last_cp + 1:])
            kept = set(listed) - set(expect) - flexible
            # ... and an unanswered keeping rollback may have kept what it replaced
            keeping = in_flight is not None and in_flight[0] == "rollback" and in_flight[4]
            assert all(i.startswith("auto-recovered") or (keeping and i.startswith("auto-"))
                       for i in kept), (sorted(kept), log)
            assert not kept or intent_open or keeping, (sorted(kept), log)
            assert set(listed) == d.snapshots_on_disk(ws_id)
            versions = {e[2] for e in log} | {e[4]["kept"] for e in log if e[4]} | {"start"}
            for sid in listed:
                got = files_of(d.snap_dir(ws_id, sid))["a.txt"]
                if sid in kept:
                    assert got.strip() in versions, (sid, got, log)
                else:
                    ver = expect.get(sid) or in_flight[2]
                    assert got == ver + "\n", (sid, log)
            # after an acknowledged rollback and no write since, the live tree is its target
            last = [e for e in log if e[3]][-1]
            if last[0] == "rollback" and (in_flight is None or in_flight[0] == "delete"):
                assert files_of(ws)["a.txt"] == last[2] + "\n", log
            print("  %d acknowledged (%s), in flight: %s" % (
                sum(1 for e in log if e[3]),
                ", ".join("%d %s" % (sum(1 for e in log if e[3] and e[0] == k), k)
                          for k in ("checkpoint", "rollback", "delete")), in_flight[:4] if in_flight else None))
            assert not d.index(ws_id).get("rollback_intent")
            if re.search(r"adopted", d.log):  # only an unanswered snapshot
                assert in_flight is not None and (in_flight[0] == "checkpoint" or keeping), \
                    d.log_tail()
        with_cut_disk(make_daemon, body)
