"""pytest fixtures for the ws-ckpt integration tests (real users, loop devices, mounts)."""
import fcntl
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import wsck  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="ws-ckpt integration tests need root "
                                       "(loop devices, mounts, useradd)")
        for item in items:
            item.add_marker(skip)


# Several pytest sessions may run at once on one host (they share the test users). Each
# holds a shared lock while it runs; user setup and removal happen under the exclusive lock,
# and only the last session to leave removes the users.
SESSION_LOCK = "/tmp/.wsck-integration.lock"


@pytest.fixture(scope="session")
def env():
    """Session setup: system user/group, test users; safety net at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for b in (wsck.WSCKPTD, wsck.FRONTD, wsck.CLI):
        assert b.exists(), "%s not built (run make)" % b
    lockfd = os.open(SESSION_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        try:
            wsck.setup_users()
        finally:
            fcntl.flock(lockfd, fcntl.LOCK_SH)  # downgrade: others may run alongside
        yield
        errors = wsck.safety_net()
        try:
            fcntl.flock(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last = True
        except BlockingIOError:
            last = False  # another session still uses the users; it removes them
        if last:
            errors += wsck.teardown_users()
    finally:
        os.close(lockfd)
    assert not errors, "session teardown problems: %s" % errors


def _daemon_factory(cls, request):
    """A factory fixture's body: every daemon made is torn down after the test, whatever
    happened, and a failed test prints the logs."""
    made = []

    def factory(start=True, **kw):
        d = cls(**kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    errors = []
    rep = getattr(request.node, "rep_call", None)
    for d in made:
        if rep is None or rep.failed:
            print("==== daemon log (%s) ====\n%s" % (d.dir, d.log_tail(150)))
        try:
            errors += d.cleanup()
        except Exception as e:  # keep cleaning the others
            errors.append("cleanup of %s raised %r" % (d.dir, e))
    assert not errors, "teardown problems: %s" % errors


@pytest.fixture
def make_daemon(env, request):
    """Factory: make_daemon(start=True, admin_group=None, extra_conf="") -> Daemon."""
    yield from _daemon_factory(wsck.Daemon, request)


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def make_flex_daemon(env, request):
    """make_daemon for wsck.FlexDaemon (binary directory and extra environment chosen per
    start), for test_persistence.py, test_crash.py and others."""
    yield from _daemon_factory(wsck.FlexDaemon, request)
