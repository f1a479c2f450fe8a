"""Startup failures are loud, precise and leave nothing behind."""
import os
import re
import subprocess

import wsck


def _run_to_exit(d, conf=None, timeout=30):
    proc, logf = d.spawn(conf=conf)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("daemon did not exit; log:\n%s" % logf.read_text(errors="replace"))
    return rc, logf.read_text(errors="replace")


def _nothing_served(d):
    assert not os.path.lexists(d.sock), "socket created by a daemon that failed to start"
    assert not [p for p in wsck.our_binary_pids(d.dir)], "processes left behind"


def test_bad_config_reports_file_and_line(make_daemon):
    d = make_daemon(start=False)
    text = d.conf.read_text().splitlines()
    text.insert(2, "no_such_key = 1")
    d.conf.write_text("\n".join(text) + "\n")
    rc, out = _run_to_exit(d)
    assert rc != 0, out
    assert re.search(re.escape(str(d.conf)) + r":3: .*no_such_key", out), out
    _nothing_served(d)
    assert wsck.mount_count(d.mnt) == 0 and not wsck.loops_backing(d.img)


def test_bad_value_reports_file_and_line(make_daemon):
    d = make_daemon(start=False)
    d.conf.write_text(d.conf.read_text().replace("img_size = 1", "img_size = lots"))
    rc, out = _run_to_exit(d)
    assert rc != 0, out
    line = [i for i, l in enumerate(d.conf.read_text().splitlines(), 1) if "img_size" in l][0]
    assert "%s:%d:" % (d.conf, line) in out, out
    _nothing_served(d)


def test_missing_frontd_user_says_how_to_create_it(make_daemon):
    d = make_daemon(start=False)
    d.conf.write_text(d.conf.read_text().replace('frontd_user = "ws-ckpt"',
                                                 'frontd_user = "wsck-nosuchuser"'))
    rc, out = _run_to_exit(d)
    assert rc != 0, out
    assert "wsck-nosuchuser" in out, out
    assert re.search(r"useradd|sysusers|adduser", out), out
    _nothing_served(d)


def test_missing_socket_group_says_how_to_create_it(make_daemon):
    d = make_daemon(start=False)
    d.conf.write_text(d.conf.read_text().replace('socket_group = "ws-ckpt"',
                                                 'socket_group = "wsck-nosuchgroup"'))
    rc, out = _run_to_exit(d)
    assert rc != 0, out
    assert "wsck-nosuchgroup" in out, out
    assert re.search(r"groupadd|sysusers|addgroup", out), out
    _nothing_served(d)


def test_verbose_foreground_start_and_stop(make_daemon):
    """The happy path the fixture relies on, asserted explicitly."""
    d = make_daemon()
    assert d.running()
    assert wsck.is_subvolume(d.mnt) or os.path.ismount(d.mnt)
    assert wsck.mount_count(d.mnt) == 1
    assert len(wsck.loops_backing(d.img)) == 1
    st = d.state()
    assert st["version"] == 1 and st["workspaces"] == []
    assert st["backend"]["backend_type"] == "BtrfsLoop"
    assert st["paths"]["mount_path"] == str(d.mnt)
    d.stop()
    assert not d.lock_file.exists() and not os.path.lexists(d.sock)
