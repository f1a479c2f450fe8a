"""Build and unit hardening: ELF flags of the three binaries, and the systemd unit's
exposure score (`systemd-analyze security --offline=true`).

No daemon is started; these need readelf (binutils) and, for the unit, systemd-analyze.
"""
import re
import shutil
import subprocess

import pytest

import wsck

BINARIES = [wsck.CLI, wsck.WSCKPTD, wsck.FRONTD]
UNIT = wsck.ROOT / "systemd" / "ws-ckpt.service"
# systemd 252: 3.9 while ws-ckptd mounted the image itself and so had to share the host's
# mount namespace; 2.9 since mounting moved to ExecStartPre= (ws-ckptd --mount-only, in the
# host's namespace) and the daemon (--no-mount) runs with PrivateMounts=, ProtectSystem=full,
# ProtectKernelTunables/Modules/Logs=, ProtectControlGroups=. What is left is listed at the end
# of [Service] in the unit: root, the capabilities and @privileged calls it needs, chroot,
# AF_UNIX, the loop devices, and ProtectHome=/PrivateTmp=/PrivateDevices=/ProtectProc=/
# ProcSubset=/RestrictSUIDSGID=/PrivateUsers=, which it cannot use.
EXPOSURE_MAX = 2.9

needs_readelf = pytest.mark.skipif(not shutil.which("readelf"), reason="readelf missing")


def readelf(args, path):
    p = subprocess.run(["readelf", "-W"] + args + [str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def segments(path):
    """{type: flags} of the program headers."""
    out = {}
    for line in readelf(["-l"], path).splitlines():
        m = re.match(r"\s+(GNU_\w+|LOAD)\s+0x\S+\s+0x\S+\s+0x\S+\s+0x\S+\s+0x\S+\s+([RWE ]+?)\s+0x",
                     line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2).replace(" ", ""))
    return out


def dynamic(path):
    return readelf(["-d"], path)


def imported_symbols(path):
    syms = set()
    for line in readelf(["--dyn-syms"], path).splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[6] == "UND":
            syms.add(parts[7].split("@")[0])
    return syms


@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: b.name)
def test_release_binaries_have_no_test_hooks(binary):
    """Crash points, the seccomp-off switch and the reclaim stalls exist only in test
    builds (build/test/, -DWSCKPT_TEST_HOOKS): no environment variable can reach them in
    what is installed."""
    assert binary.exists(), "%s not built (run make)" % binary
    data = binary.read_bytes()
    for name in (b"WSCKPT_CRASH_AT", b"WSCKPT_TEST_"):
        assert name not in data, "%s contains %s" % (binary, name.decode())
    test_bin = wsck.TEST_BUILD / binary.name
    if binary.name == "ws-ckptd" and test_bin.exists():  # the check itself can see them
        assert b"WSCKPT_TEST_NO_SECCOMP" in test_bin.read_bytes()


@needs_readelf
@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: b.name)
def test_pie(binary):
    assert binary.exists(), "%s not built (run make)" % binary
    hdr = readelf(["-h"], binary)
    assert re.search(r"Type:\s+DYN", hdr), hdr
    assert re.search(r"FLAGS_1\)\s+Flags:.*\bPIE\b", dynamic(binary)), dynamic(binary)


@needs_readelf
@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: b.name)
def test_full_relro(binary):
    segs = segments(binary)
    assert "GNU_RELRO" in segs, segs
    dyn = dynamic(binary)
    assert re.search(r"\(FLAGS\)\s+.*\bBIND_NOW\b", dyn) or \
        re.search(r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", dyn), dyn


@needs_readelf
@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: b.name)
def test_no_executable_stack(binary):
    segs = segments(binary)
    assert segs.get("GNU_STACK") == ["RW"], segs
    # and no segment both writable and executable
    assert not [f for fl in segs.values() for f in fl if "W" in f and "E" in f], segs


@needs_readelf
@pytest.mark.parametrize("binary", BINARIES, ids=lambda b: b.name)
def test_stack_protector_and_fortify(binary):
    syms = imported_symbols(binary)
    assert "__stack_chk_fail" in syms, "no stack protector in %s" % binary.name
    chk = sorted(s for s in syms if re.fullmatch(r"__\w+_chk", s) and s != "__stack_chk_fail")
    assert chk, "no _FORTIFY_SOURCE wrappers imported by %s" % binary.name


# --------------------------------------------------------------------------- systemd unit

needs_analyze = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                   reason="systemd-analyze missing")


def unit_copy(tmp_path):
    """The unit with ExecStart pointing to an existing binary (offline analysis checks it)."""
    text = UNIT.read_text()
    exe = wsck.WSCKPTD if wsck.WSCKPTD.exists() else (shutil.which("true") or "/bin/true")
    text = re.sub(r"^ExecStart=\S+", "ExecStart=%s" % exe, text, flags=re.M)
    path = tmp_path / "ws-ckpt.service"
    path.write_text(text)
    return path


@needs_analyze
def test_unit_exposure_score(tmp_path):
    unit = unit_copy(tmp_path)
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        str(unit)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120, cwd=str(tmp_path))
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", p.stdout)
    if m is None and ("--offline" in p.stdout or "Unknown option" in p.stdout):
        pytest.skip("systemd-analyze has no --offline: %s" % p.stdout[-200:])
    assert m, p.stdout
    score = float(m.group(1))
    assert score <= EXPOSURE_MAX, "exposure %.1f > %.1f:\n%s" % (score, EXPOSURE_MAX, p.stdout)


def active_lines(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_unit_syscall_filter_covers_the_daemon():
    """The allow-list must hold what ws-ckptd needs at start-up and for its own filters,
    fail with EPERM rather than kill, and never allow the groups nothing needs."""
    lines = active_lines(UNIT.read_text())
    filt = [ln.split("=", 1)[1].split() for ln in lines if ln.startswith("SystemCallFilter=")]
    allow = [f for f in filt if not f[0].startswith("~")]
    deny = [f for f in filt if f[0].startswith("~")]
    assert allow, "no SystemCallFilter= allow-list"
    allowed = set(allow[0])
    for g in ("@system-service", "chroot", "seccomp"):
        assert g in allowed, (g, allowed)
    # mount(2) and friends are ExecStartPre='s ("+": outside this filter); the daemon
    # needs only chroot of @mount (frontd's chroot)
    for g in ("@clock", "@cpu-emulation", "@debug", "@module", "@obsolete", "@raw-io",
              "@reboot", "@swap", "@privileged", "@mount", "mount", "umount2"):
        assert g not in allowed, g
    assert "SystemCallErrorNumber=EPERM" in lines
    assert "SystemCallArchitectures=native" in lines
    assert deny == [] or all(g in ("~@resources",) or g.startswith("@") for g in deny[0]), deny


def test_unit_mount_split_and_namespacing():
    """Mounting happens in ExecStartPre= in the host's mount namespace; the daemon serves
    from a private one with the file system protections its runtime tolerates, and none
    of those that would hide workspaces (/home, /tmp), the loop devices or /proc/sys."""
    lines = active_lines(UNIT.read_text())
    pre = [ln for ln in lines if ln.startswith("ExecStartPre=")]
    assert pre == ["ExecStartPre=+/usr/bin/nsenter --mount=/proc/1/ns/mnt -- "
                   "/usr/sbin/ws-ckptd --mount-only"], pre
    assert [ln for ln in lines if ln.startswith("ExecStart=")] == \
        ["ExecStart=/usr/sbin/ws-ckptd -f --no-mount"]
    for opt in ("PrivateMounts=yes", "ProtectSystem=full", "ReadWritePaths=-/etc/ws-ckpt",
                "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
                "ProtectKernelLogs=yes", "ProtectControlGroups=yes"):
        assert opt in lines, opt
    for opt in ("ProtectHome=", "PrivateTmp=", "PrivateDevices=", "ProtectProc=",
                "ProcSubset=", "MountFlags=", "PrivateUsers=", "User=", "DynamicUser="):
        assert not [ln for ln in lines if ln.startswith(opt)], opt
    # the loop devices: the device cgroup covers ExecStartPre= too
    assert "DeviceAllow=block-loop rw" in lines and "DeviceAllow=/dev/loop-control rw" in lines


@needs_analyze
def test_unit_verifies_clean(tmp_path):
    unit = unit_copy(tmp_path)
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                       cwd=str(tmp_path), env={"SYSTEMD_LOG_LEVEL": "warning",
                                               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    ours = [ln for ln in p.stdout.splitlines() if "ws-ckpt" in ln]
    assert p.returncode == 0 and not ours, p.stdout
