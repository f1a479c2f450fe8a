"""Least privilege, measured (SECURITY.md, "Least privilege"): the capabilities, no_new_privs,
seccomp and chroot state of the running daemons, read from /proc, and proof that a forbidden
system call kills them.

The forbidden calls are made by the real release binaries, not by test hooks: the test
(root) attaches with ptrace while the daemon waits in epoll_wait, points it back at the
`syscall` instruction it is stopped after, loads another system call into its registers and
single-steps it. The kernel runs that call through the process's own seccomp filter, exactly
as if compromised code inside the daemon had made it.
"""
import ctypes
import errno
import os
import platform
import resource
import signal
import socket
import stat
import time

import pytest

import wsck

# linux/capability.h
CAP = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
       "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
       "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21}
PRIVD_CAPS = ("CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN", "CAP_SETUID",
              "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL")
LAUNCHER_CAPS = ("CAP_SYS_CHROOT", "CAP_SETPCAP")


def capmask(names):
    m = 0
    for n in names:
        m |= 1 << CAP[n]
    return m


def caps(st):
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def status(pid):
    st = wsck.proc_status(pid)
    assert st is not None, "process %d is gone" % pid
    return st


def launcher_of(d):
    for pid in wsck.children_of(d.pid):
        st = wsck.proc_status(pid)
        if st and st.get("Name") == "ws-ckpt-launch":
            return pid
    return None


def frontd_root(d):
    return str(d.state_dir / "frontd-root")


# --------------------------------------------------------------------------- syscall injection

X86_64 = platform.machine() == "x86_64"
SYS_openat, SYS_socket, SYS_execve, SYS_ptrace, SYS_mount = 257, 41, 59, 101, 165
PTRACE_PEEKTEXT, PTRACE_POKEDATA, PTRACE_SINGLESTEP = 1, 5, 9
PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_DETACH = 12, 13, 17
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
WALL = 0x40000000
AT_FDCWD = (1 << 64) - 100

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class Regs(ctypes.Structure):  # struct user_regs_struct, x86_64
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags "
        "rsp ss fs_base gs_base ds es fs gs").split()]


def _pt(req, pid, addr=0, data=0, peek=False):
    ctypes.set_errno(0)
    r = _libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    e = ctypes.get_errno()
    if r == -1 and (e or not peek):
        raise OSError(e, "ptrace(%d, %d): %s" % (req, pid, os.strerror(e)))
    return r


def _stop_at_syscall(pid, tries=20):
    """Seize pid and interrupt it while it is blocked in a system call. Returns its regs."""
    _pt(PTRACE_SEIZE, pid)
    for _ in range(tries):
        _pt(PTRACE_INTERRUPT, pid)
        _, st = os.waitpid(pid, WALL)
        assert os.WIFSTOPPED(st), "tracee did not stop: %#x" % st
        regs = Regs()
        _pt(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
        insn = _pt(PTRACE_PEEKTEXT, pid, regs.rip - 2, peek=True) & 0xffff
        if insn == 0x050f and regs.orig_rax < (1 << 63):  # "syscall", stopped inside one
            return regs
        _pt(PTRACE_DETACH, pid)  # busy in user code: try again a little later
        time.sleep(0.1)
        _pt(PTRACE_SEIZE, pid)
    _pt(PTRACE_DETACH, pid)
    raise AssertionError("process %d never stopped inside a system call" % pid)


def _poke_string(pid, addr, data):
    data += b"\0" * (8 - len(data) % 8)
    for i in range(0, len(data), 8):
        _pt(PTRACE_POKEDATA, pid, addr + i, int.from_bytes(data[i:i + 8], "little"))


def inject_syscall(pid, nr, args=(), string=None):
    """Make process pid execute system call nr once. `string` (bytes) is copied onto its
    stack and passed where args holds "STR". Returns ("ret", value) and leaves the process
    running as before, or ("dead", wait status) if the call killed it."""
    saved = _stop_at_syscall(pid)
    try:
        regs = Regs.from_buffer_copy(saved)
        vals = list(args)
        if string is not None:
            addr = (saved.rsp - 1024) & ~0xf  # below the red zone, inside the used stack
            _poke_string(pid, addr, string)
            vals = [addr if a == "STR" else a for a in vals]
        vals += [0] * (6 - len(vals))
        regs.rip = saved.rip - 2
        regs.rax = nr
        regs.orig_rax = (1 << 64) - 1  # not "in a syscall": no restart fix-up of rip/rax
        regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9 = vals[:6]
        _pt(PTRACE_SETREGS, pid, 0, ctypes.addressof(regs))
        _pt(PTRACE_SINGLESTEP, pid)
        _, st = os.waitpid(pid, WALL)
        if not os.WIFSTOPPED(st):
            return ("dead", st)
        _pt(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
        ret = regs.rax - (1 << 64) if regs.rax >= (1 << 63) else regs.rax
        _pt(PTRACE_SETREGS, pid, 0, ctypes.addressof(saved))  # resume its epoll_wait
        _pt(PTRACE_DETACH, pid)
        return ("ret", ret)
    except BaseException:
        try:
            _pt(PTRACE_DETACH, pid)
        except OSError:
            pass
        raise


needs_x86_64 = pytest.mark.skipif(not X86_64, reason="syscall injection is written for x86_64")


def no_core(pid):
    """The injected death dumps core by default: not in the test's cwd or / please."""
    try:
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    except (ProcessLookupError, PermissionError):
        pass


def assert_killed_by_sigsys(res, what):
    kind, st = res
    assert kind == "dead", "%s was allowed (returned %r) instead of killing the process" % (
        what, st)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGSYS, \
        "%s: process ended with wait status %#x, not SIGSYS" % (what, st)


# --------------------------------------------------------------------------- /proc state

def test_privd_keeps_only_the_listed_capabilities(daemon):
    st = status(daemon.pid)
    c = caps(st)
    want = capmask(PRIVD_CAPS)
    assert c["CapEff"] == want and c["CapPrm"] == want and c["CapBnd"] == want, \
        "privd capabilities %s, expected exactly %#x (%s)" % (
            {k: hex(v) for k, v in c.items()}, want, " ".join(PRIVD_CAPS))
    assert c["CapInh"] == 0 and c["CapAmb"] == 0
    assert st["NoNewPrivs"].strip() == "1"
    assert st["Seccomp"].strip() == "2", "privd is not under a seccomp filter"
    assert st["Uid"].split()[0] == "0"


def test_frontd_has_nothing(daemon):
    fp = daemon.find_frontd()
    st = status(fp)
    sys_uid = wsck.user_info(wsck.SYS_USER).pw_uid
    assert st["Uid"].split() == [str(sys_uid)] * 4
    assert st["Groups"].strip() == "", "frontd keeps supplementary groups: %s" % st["Groups"]
    assert caps(st) == {k: 0 for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}, \
        "frontd capabilities: %s" % {k: hex(v) for k, v in caps(st).items()}
    assert st["NoNewPrivs"].strip() == "1"
    assert st["Seccomp"].strip() == "2", "frontd is not under a seccomp filter"


def test_frontd_is_chrooted_into_an_empty_directory(daemon):
    fp = daemon.find_frontd()
    root = frontd_root(daemon)
    assert os.readlink("/proc/%d/root" % fp) == root
    assert os.readlink("/proc/%d/cwd" % fp) == root
    st = os.lstat(root)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_gid == 0
    assert stat.S_IMODE(st.st_mode) == 0o555
    assert os.listdir(root) == []
    # The directory descriptor it chrooted through is closed: no directory is open.
    for fd in os.listdir("/proc/%d/fd" % fp):
        target = os.readlink("/proc/%d/fd/%s" % (fp, fd))
        assert not os.path.isdir(target), "frontd holds directory fd %s -> %s" % (fd, target)
        assert not target.startswith(str(daemon.state_dir)), (fd, target)


def test_launcher_keeps_only_what_frontd_needs_for_its_chroot(daemon):
    lp = launcher_of(daemon)
    assert lp, "no ws-ckpt-launch child of privd"
    st = status(lp)
    sys_uid = wsck.user_info(wsck.SYS_USER).pw_uid
    assert st["Uid"].split() == [str(sys_uid)] * 4
    want = capmask(LAUNCHER_CAPS)
    c = caps(st)
    assert c["CapPrm"] == want and c["CapInh"] == want and c["CapAmb"] == want, c
    assert c["CapBnd"] == want, c
    assert st["NoNewPrivs"].strip() == "1"
    # frontd is privd's child (privd is a subreaper), not the launcher's.
    assert str(daemon.pid) == status(daemon.find_frontd())["PPid"].strip()


def test_launcher_goes_away_with_privd(make_daemon):
    d = make_daemon()
    lp = launcher_of(d)
    assert lp
    d.stop()
    assert wsck.wait_until(lambda: not wsck.proc_alive(lp), 10), "launcher outlived privd"


# --------------------------------------------------------------------------- forbidden calls

@needs_x86_64
def test_frontd_is_killed_when_it_opens_a_file(daemon):
    old = daemon.find_frontd()
    no_core(old)
    res = inject_syscall(old, SYS_openat, (AT_FDCWD, "STR", os.O_RDONLY), b"/etc/passwd")
    assert_killed_by_sigsys(res, "openat in frontd")
    assert wsck.wait_until(lambda: "frontd (pid %d) was killed by signal %d" % (
        old, signal.SIGSYS) in daemon.log, 10), daemon.log_tail()
    # privd starts a new one and service resumes.
    new = wsck.wait_until(lambda: (lambda p: p if p and p != old else None)(daemon.find_frontd()),
                          15)
    assert new, daemon.log_tail()
    assert wsck.wait_until(lambda: daemon.raw({"v": 1, "id": 1, "op": "version"}).get("ok"), 15)


@needs_x86_64
def test_frontd_is_killed_when_it_execs(daemon):
    fp = daemon.find_frontd()
    no_core(fp)
    assert_killed_by_sigsys(inject_syscall(fp, SYS_execve, ("STR", 0, 0), b"/bin/sh"),
                            "execve in frontd")


@needs_x86_64
def test_frontd_cannot_create_sockets_but_survives(daemon):
    """socket() is refused with EACCES (syslog(3) may retry it), not fatal."""
    fp = daemon.find_frontd()
    kind, ret = inject_syscall(fp, SYS_socket, (socket.AF_INET, socket.SOCK_STREAM, 0))
    assert (kind, ret) == ("ret", -errno.EACCES)
    assert wsck.proc_alive(fp) and daemon.find_frontd() == fp
    assert daemon.raw({"v": 1, "id": 2, "op": "version"}).get("ok")


@needs_x86_64
@pytest.mark.parametrize("what,nr,args,string", [
    ("execve", SYS_execve, ("STR", 0, 0), b"/bin/sh"),
    ("socket(AF_INET)", SYS_socket, (socket.AF_INET, socket.SOCK_STREAM, 0), None),
    ("mount", SYS_mount, ("STR", "STR", "STR", 0, 0), b"none"),
    ("ptrace", SYS_ptrace, (0x4206, 1, 0, 0), None),
])
def test_privd_is_killed_by_a_forbidden_call(make_daemon, what, nr, args, string):
    d = make_daemon()
    pid, fp, lp = d.pid, d.find_frontd(), launcher_of(d)
    no_core(pid)
    # The test is privd's parent and its tracer: the tracer's wait reaps it, so the status
    # comes from inject_syscall, not from Popen.
    assert_killed_by_sigsys(inject_syscall(pid, nr, args, string), what + " in privd")
    assert not wsck.proc_alive(pid)
    # Nothing privd started outlives it: frontd sees EOF, the launcher too.
    assert wsck.wait_until(lambda: not wsck.proc_alive(fp) and not wsck.proc_alive(lp), 10), \
        "frontd or launcher outlived a killed privd"


@needs_x86_64
def test_privd_allowed_calls_still_work_after_an_injection(daemon):
    """The injection itself is harmless: an allowed call returns and privd serves on."""
    kind, ret = inject_syscall(daemon.pid, 39, ())  # getpid
    assert (kind, ret) == ("ret", daemon.pid)
    assert daemon.raw({"v": 1, "id": 3, "op": "version"}).get("ok")


def test_systemd_unit_grants_what_the_daemon_keeps():
    """Under systemd the unit's bounding set caps everything: it must contain privd's kept
    set and the launcher's (CAP_SYS_CHROOT for frontd's chroot), or frontd never starts."""
    unit = wsck.ROOT / "systemd" / "ws-ckpt.service"
    granted = set()
    for line in unit.read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            granted |= set(line.split("=", 1)[1].split())
    missing = (set(PRIVD_CAPS) | set(LAUNCHER_CAPS)) - granted
    assert not missing, "%s lacks %s in CapabilityBoundingSet" % (unit, sorted(missing))
