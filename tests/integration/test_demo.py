"""The README's first command, `sudo make demo`, keeps working: run it as a newcomer
would, and check that it says it worked and leaves nothing behind."""
import pwd
import subprocess

import pytest

import wsck

DEMO_USER = "wsck-demo"


def test_make_demo_works_and_leaves_nothing(env):
    p = subprocess.run(["make", "--no-print-directory", "demo"], cwd=str(wsck.ROOT),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:]
    assert "The demo worked: notes.txt is back to its checkpointed content" in p.stdout, \
        p.stdout[-4000:]
    assert "done: no daemon, mount, loop device, demo user or scratch files left" in p.stdout
    assert not [m for m in wsck.mounts() if "/ws-ckpt-demo." in m[1]]
    assert not [d for d, back in wsck.loop_devices() if "/ws-ckpt-demo." in back]
    with pytest.raises(KeyError):
        pwd.getpwnam(DEMO_USER)
