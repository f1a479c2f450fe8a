"""ws-ckptd under valgrind (memcheck): no invalid access, no uninitialised read, no
definite leak, in privd and in the workers it forks, through every kind of request.

valgrind cannot run a process under privd's seccomp filter, so this uses the test build
with WSCKPT_TEST_NO_SECCOMP (a switch only test builds have; privd/sandbox.c). frontd is
exec'd and runs natively (its own parsers are covered by the fuzzers under ASan/UBSan).
"""
import os
import re
import shutil

import pytest

import wsck
from wsck import ALICE, checkpoint, init_ws, list_ids

VG = shutil.which("valgrind")


@pytest.mark.skipif(VG is None, reason="valgrind not installed (make deps installs it)")
def test_privd_is_valgrind_clean(make_flex_daemon):
    assert wsck.TEST_BUILD.joinpath("ws-ckptd").exists(), "run `make testbins`"
    d = make_flex_daemon(start=False, bin_dir=wsck.TEST_BUILD,
                         env_extra={"WSCKPT_TEST_NO_SECCOMP": "1"})
    logs = d.dir / "vg"
    logs.mkdir()
    # workers and the frontd launcher run as other users: each forked process writes its own
    os.chmod(logs, 0o1777)
    d.wrapper = [VG, "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                 "--track-fds=no", "--log-file=%s/vg.%%p.log" % logs]
    try:
        d.start()
    except AssertionError:
        for r in sorted(logs.glob("vg.*.log")):
            print("==== %s\n%s" % (r.name, r.read_text(errors="replace")[-3000:]))
        raise
    assert "seccomp filter NOT installed" in d.last_log()

    ws = d.make_ws(ALICE, {"a.txt": "1\n", "sub/b.txt": "b\n"})
    ws_id = init_ws(d, ALICE, ws)
    checkpoint(d, ALICE, ws, "v1", "-m", "one", "--metadata", '{"k":[1,2]}')
    wsck.write_as(ALICE, ws / "a.txt", "2\n")
    checkpoint(d, ALICE, ws, "v2")
    d.cli(["pin", "-w", ws, "-s", "v1"], user=ALICE)
    d.cli(["diff", "-w", ws, "-f", "v1"], user=ALICE)            # root worker, send stream
    d.cli(["diff", "-w", ws, "-f", "v1", "-t", "v2"], user=ALICE)
    d.cli(["rollback", "-w", ws, "-s", "v1"], user=ALICE)
    d.cli(["list", "--format", "json"], user=ALICE)
    d.cli(["status"], user=ALICE)
    d.cli(["delete", "-w", ws, "-s", "v2", "--force"], user=ALICE)
    d.cli(["cleanup", "-w", ws, "--keep", "0"], user=ALICE)     # reclaim worker
    d.cli(["config"], user=ALICE)
    d.cli(["checkpoint", "-w", ws, "-i", "bad/id"], user=ALICE, check=2)
    assert "v1" in list_ids(d, ALICE, str(ws))
    d.cli(["recover", "-w", ws, "--force"], user=ALICE)          # copy-back worker
    assert (ws / "a.txt").read_text() == "1\n"
    assert ws_id not in {w["ws_id"] for w in d.state()["workspaces"]}
    try:
        d.stop()  # asserts exit status 0: valgrind exits 99 on any error
    finally:
        reports = sorted(logs.glob("vg.*.log"))
        bad = []
        for r in reports:
            text = r.read_text(errors="replace")
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m and int(m.group(1)) != 0:
                # memcheck's own lines ("==pid=="), not its notes on unknown calls
                mc = "\n".join(x for x in text.splitlines() if x.startswith("=="))
                bad.append("%s:\n%s" % (r.name, mc[-8000:]))
        assert not bad, "\n\n".join(bad)
    assert reports, "valgrind wrote no log"
