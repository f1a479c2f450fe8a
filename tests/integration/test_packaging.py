"""Packaging: `make rpm` (contents, modes, scriptlets), `make install DESTDIR=...`,
the man pages, and the bash completion (against a stub and a real daemon)."""
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

import wsck

ROOT = Path(__file__).resolve().parents[2]
MAN_PAGES = ["docs/ws-ckpt.1", "docs/ws-ckptd.8", "docs/ws-ckpt.conf.5"]
COMPLETION = ROOT / "completion" / "ws-ckpt.bash"


def makefile_version():
    m = re.search(r"^VERSION\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "no VERSION in the Makefile"
    return m.group(1)


def sh(argv, timeout=300, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    assert p.returncode == 0, "%s: exit %d\n--- stdout:\n%s\n--- stderr:\n%s" % (
        argv, p.returncode, p.stdout[-4000:], p.stderr[-4000:])
    return p


# (path, mode) of every file the package and `make install` ship.
BIN_FILES = [
    ("/usr/bin/ws-ckpt", 0o755),
    ("/usr/sbin/ws-ckptd", 0o755),
    ("/usr/libexec/ws-ckpt/ws-ckpt-frontd", 0o755),
]
DATA_FILES = [
    ("/usr/lib/systemd/system/ws-ckpt.service", 0o644),
    ("/usr/lib/systemd/system/ws-ckpt.socket", 0o644),
    ("/usr/lib/sysusers.d/ws-ckpt.conf", 0o644),
    ("/usr/lib/tmpfiles.d/ws-ckpt.conf", 0o644),
    ("/etc/ws-ckpt/config.toml.sample", 0o644),
    ("/usr/share/bash-completion/completions/ws-ckpt", 0o644),
]
MAN_FILES = [
    ("/usr/share/man/man1/ws-ckpt.1", 0o644),
    ("/usr/share/man/man8/ws-ckptd.8", 0o644),
    ("/usr/share/man/man5/ws-ckpt.conf.5", 0o644),
]
CONFIG = "/etc/ws-ckpt/config.toml"


# --------------------------------------------------------------------------- rpm

@pytest.fixture(scope="module")
def rpms():
    """`make rpm` once: returns (binary rpm, source rpm)."""
    if not shutil.which("rpmbuild"):
        pytest.fail("rpmbuild is missing: run 'make deps' (Debian package 'rpm')")
    t0 = time.monotonic()
    sh(["make", "-C", str(ROOT), "rpm"], timeout=600)
    print("make rpm took %.1f s" % (time.monotonic() - t0))
    topdir = ROOT / "build" / "rpm"
    ver = makefile_version()
    bins = [p for p in (topdir / "RPMS").glob("*/ws-ckpt-%s-*.rpm" % ver)
            if "debug" not in p.name]
    srcs = list((topdir / "SRPMS").glob("ws-ckpt-%s-*.src.rpm" % ver))
    assert len(bins) == 1 and len(srcs) == 1, "rpms found: %s %s" % (bins, srcs)
    return bins[0], srcs[0]


def rpm_files(path):
    """{filename: (mode, fileflags)} of a package."""
    out = sh(["rpm", "-qp", "--qf",
              "[%{FILENAMES}\t%{FILEMODES:octal}\t%{FILEFLAGS:fflags}\n]", str(path)]).stdout
    files = {}
    for line in out.splitlines():
        name, mode, flags = line.split("\t")
        files[name] = (int(mode, 8), flags)
    return files


def test_rpm_contains_every_path(rpms):
    binary, _ = rpms
    listed = set(sh(["rpm", "-qlp", str(binary)]).stdout.split())
    wanted = [p for p, _ in BIN_FILES + DATA_FILES] + [CONFIG]
    for path in wanted:
        assert path in listed, "%s not in %s:\n%s" % (path, binary.name, sorted(listed))
    for path, _ in MAN_FILES:   # rpm may compress man pages
        assert path in listed or path + ".gz" in listed, "%s not packaged" % path
    docs = {os.path.basename(p) for p in listed if p.startswith("/usr/share/doc/")}
    assert {"README.md", "SECURITY.md"} <= docs, docs
    # Nothing of the state, the image or the mount is owned by the package.
    for p in listed:
        assert not p.startswith(("/var/lib/ws-ckpt", "/mnt", "/run")), p


def test_rpm_modes_and_config_flags(rpms):
    binary, _ = rpms
    files = rpm_files(binary)
    for path, mode in BIN_FILES + DATA_FILES:
        assert stat.S_ISREG(files[path][0]), path
        assert stat.S_IMODE(files[path][0]) == mode, "%s: %o" % (path, files[path][0])
    for path, mode in MAN_FILES:
        key = path if path in files else path + ".gz"
        assert stat.S_IMODE(files[key][0]) == mode, key
        assert "d" in files[key][1], "%s is not marked as documentation" % key
    mode, flags = files[CONFIG]
    assert stat.S_IMODE(mode) == 0o644
    assert "c" in flags and "n" in flags, "config.toml flags %r: want %%config(noreplace)" % flags
    # The sample is replaced on upgrade: not a config file.
    assert "c" not in files["/etc/ws-ckpt/config.toml.sample"][1]
    owner = sh(["rpm", "-qp", "--qf", "[%{FILEUSERNAME}:%{FILEGROUPNAME}\n]",
                str(binary)]).stdout.split()
    assert set(owner) == {"root:root"}, set(owner)


def test_rpm_scriptlets_never_touch_data(rpms):
    binary, _ = rpms
    scripts = sh(["rpm", "-qp", "--scripts", str(binary)]).stdout
    for bad in ("rm -rf /var/lib", "mkfs", "losetup -d", "truncate", "umount", "wipefs",
                "rm -rf", "mv /var/lib"):
        assert bad not in scripts, "scriptlets contain %r:\n%s" % (bad, scripts)
    for section in ("preinstall", "postinstall", "preuninstall", "postuninstall"):
        assert section + " scriptlet" in scripts, section
    # The service is stopped on erase only.
    preun = scripts.split("preuninstall scriptlet")[1].split("postuninstall scriptlet")[0]
    assert '"$1" -eq 0' in preun and "disable --now ws-ckpt.service" in preun, preun
    assert "daemon-reload" in scripts.split("postinstall scriptlet")[1]


def test_rpm_pre_matches_sysusers_file(rpms):
    binary, _ = rpms
    scripts = sh(["rpm", "-qp", "--scripts", str(binary)]).stdout
    pre = scripts.split("preinstall scriptlet")[1].split("postinstall scriptlet")[0]
    entries = [ln for ln in (ROOT / "systemd" / "ws-ckpt.sysusers").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    assert entries
    for ln in entries:
        assert ln in pre, "%%pre lacks sysusers line %r:\n%s" % (ln, pre)
    assert "groupadd" in pre and "useradd" in pre   # fallback without systemd-sysusers


def test_srpm_has_spec_and_tarball(rpms):
    _, srpm = rpms
    listed = sh(["rpm", "-qlp", str(srpm)]).stdout.split()
    assert "ws-ckpt.spec" in listed
    assert "ws-ckpt-%s.tar.gz" % makefile_version() in listed, listed


def test_shipped_config_is_all_comments():
    for ln in (ROOT / "docs" / "config.toml").read_text().splitlines():
        assert not ln.strip() or ln.lstrip().startswith("#"), ln


# --------------------------------------------------------------------------- make install

@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    sh(["make", "-C", str(ROOT), "install", "DESTDIR=%s" % d, "PREFIX=/usr"], timeout=600)
    return d


def test_install_destdir_files_and_modes(destdir):
    for path, mode in BIN_FILES + DATA_FILES + MAN_FILES:
        st = os.lstat(str(destdir) + path)
        assert stat.S_ISREG(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == mode, "%s: %o" % (path, stat.S_IMODE(st.st_mode))
    # make install never installs (or overwrites) the active configuration.
    assert not os.path.lexists(str(destdir) + CONFIG)


def test_installed_binaries_run(destdir):
    ver = makefile_version()
    p = sh([str(destdir) + "/usr/sbin/ws-ckptd", "-h"], timeout=30)
    assert "usage: ws-ckptd" in p.stdout
    p = sh([str(destdir) + "/usr/sbin/ws-ckptd", "-V"], timeout=30)
    assert ver in p.stdout
    p = sh([str(destdir) + "/usr/bin/ws-ckpt", "--version"], timeout=30)
    assert p.stdout.strip() == "ws-ckpt %s" % ver


# --------------------------------------------------------------------------- man pages

@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_lint(page):
    path = ROOT / page
    if shutil.which("mandoc"):
        p = subprocess.run(["mandoc", "-T", "lint", "-W", "all", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert p.returncode == 0 and not p.stdout.strip(), p.stdout
    if shutil.which("man") and shutil.which("groff"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        p = subprocess.run(["man", "--warnings", "-l", str(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=60)
        assert p.returncode == 0 and not p.stderr.strip(), p.stderr
        assert "SEE ALSO" in p.stdout


def cli_commands():
    """The commands `ws-ckpt --help` lists (help included)."""
    out = sh([str(wsck.CLI), "--help"], timeout=30).stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cmds = [ln.split()[0] for ln in block.splitlines() if ln.strip()]
    assert "init" in cmds and "help" in cmds, out
    return cmds


def test_man_page_lists_every_cli_command_and_option():
    """ws-ckpt(1) names every command and option that `ws-ckpt CMD --help` shows."""
    text = (ROOT / "docs" / "ws-ckpt.1").read_text().replace("\\-", "-")
    for cmd in cli_commands():
        if cmd == "help":
            assert re.search(r"^\.SS \"?help\b", text, re.M)
            continue
        assert re.search(r"^\.SS \"?%s\b" % cmd, text, re.M), "no section for %s" % cmd
        out = sh([str(wsck.CLI), cmd, "--help"], timeout=30).stdout
        for opt in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", out)):
            assert opt in text, "ws-ckpt %s: option %s not in ws-ckpt.1" % (cmd, opt)
    for env in ("WS_CKPT_SOCKET", "NO_COLOR"):
        assert env in text


def test_conf_page_lists_every_config_key():
    src = (ROOT / "common" / "config.c").read_text()
    keys = re.findall(r'\{\s*"[^"]*",\s*"([a-z_]+)",\s*K_', src)
    assert len(keys) >= 15, keys
    text = (ROOT / "docs" / "ws-ckpt.conf.5").read_text().replace("\\%", "")
    for k in keys:
        assert re.search(r"^\.BR %s " % re.escape(k), text, re.M), "key %s not described" % k


# --------------------------------------------------------------------------- bash completion

COMPLETE_SH = r'''
source "$1"
shift
complete -p ws-ckpt >/dev/null || exit 3
# Each argument: the command line (cursor at its end), \x1e, then the words as bash
# splits them (at blanks, and around ':' and '='), separated by \x1f.
for case in "$@"; do
	COMP_LINE=${case%%$'\x1e'*}
	mapfile -d $'\x1f' -t COMP_WORDS < <(printf '%s\x1f' "${case#*$'\x1e'}")
	COMP_POINT=${#COMP_LINE}
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_ws_ckpt 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
	echo
done
'''


def complete(cases, cwd=None, timeout=30):
    """Run the completion function on each case (a list of words, the last one being
    completed, ':' and '=' as words of their own as bash splits them); returns one
    sorted list of candidates per case."""
    args = []
    for words in cases:
        line = words[0]
        for prev, w in zip(words, words[1:]):
            line += ("" if w in (":", "=") or prev in (":", "=") else " ") + w
        args.append(line + "\x1e" + "\x1f".join(words))
    p = sh(["bash", "--norc", "--noprofile", "-c", COMPLETE_SH, "complete-test", str(COMPLETION)]
           + args, timeout=timeout, cwd=cwd)
    lines = p.stdout.split("\n")[:len(cases)]
    return [ln.split() for ln in lines]


STUB = r'''#!/bin/sh
case "$*" in
*"status --format json"*) printf '%s\n' '{' '  "workspaces": [' '    {' \
    '      "ws_id": "ws-6d5aaa",' '      "path": "/home/a/p"' '    }' '  ]' '}' ;;
*"list"*"--format json"*) printf '%s\n' '[' '  {' '    "id": "step-1",' \
    '    "meta": {' '      "metadata": {' '        "id": "not-an-id"' '      }' '    }' \
    '  },' '  {' '    "id": "2026-05-28T10:00Z"' '  }' ']' ;;
esac
'''


def test_completion_with_stub(tmp_path):
    stub = tmp_path / "ws-ckpt"
    stub.write_text(STUB)
    stub.chmod(0o755)
    (tmp_path / "proj").mkdir()
    s = str(stub)
    got = complete([
        [s, ""],
        [s, "--"],
        [s, "rollback", ""],
        [s, "list", "--format", ""],
        [s, "list", "--format", "=", "j"],
        [s, "status", "-w", ""],
        [s, "init", "-w", ""],
        [s, "rollback", "-w", "proj", "-s", ""],
        [s, "rollback", "-w", "proj", "-s", "2026-05-28T10", ":"],
        [s, "delete", "-s", "x", "--force", ""],
        [s, "help", ""],
    ], cwd=str(tmp_path))
    cmds = sorted(cli_commands())
    assert got[0] == cmds
    assert got[1] == ["--help", "--socket", "--version"]
    assert got[2] == ["--discard-current", "--format", "--help", "--json", "--preview",
                      "--snapshot", "--steps", "--workspace", "-h", "-n", "-s", "-w"]
    assert got[3] == ["json", "table"]
    assert got[4] == ["json"]
    assert got[5] == ["proj", "ws-6d5aaa"]
    assert got[6] == ["proj"]
    assert got[7] == ["2026-05-28T10:00Z", "step-1"]
    assert got[8] == ["00Z"]        # readline replaces only the text after the ':'
    assert got[9] == ["--format", "--help", "--json", "--workspace", "-h", "-w"]
    assert got[10] == [c for c in cmds if c != "help"]


def test_completion_knows_every_option(tmp_path):
    """Every option `ws-ckpt CMD --help` shows is offered after `ws-ckpt CMD -`."""
    cmds = [c for c in cli_commands() if c != "help"]
    got = complete([[str(wsck.CLI), c, "-"] for c in cmds], cwd=str(tmp_path))
    for cmd, offered in zip(cmds, got):
        out = sh([str(wsck.CLI), cmd, "--help"], timeout=30).stdout
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", out))
        assert opts <= set(offered), "ws-ckpt %s: not completed: %s" % (cmd, opts - set(offered))


def test_completion_never_hangs(tmp_path):
    """A daemon that does not answer costs at most `timeout 2`; a stopped one nothing."""
    hang = tmp_path / "ws-ckpt"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    t0 = time.monotonic()
    got = complete([[str(hang), "rollback", "-s", ""]], cwd=str(tmp_path))
    assert got == [[]] and time.monotonic() - t0 < 6
    t0 = time.monotonic()
    got = complete([[str(wsck.CLI), "-S", str(tmp_path / "nosock"), "delete", "-s", ""],
                    [str(wsck.CLI), "-S", str(tmp_path / "nosock"), "list", "-w", "ws-"]],
                   cwd=str(tmp_path))
    assert got == [[], []] and time.monotonic() - t0 < 4


@pytest.fixture
def root_daemon():
    """A daemon used by root only. It needs the ws-ckpt system account (kept, as a real
    installation has it) but none of the suite's test users, so this file neither
    creates nor deletes them."""
    try:
        grp.getgrnam(wsck.SOCK_GROUP)
    except KeyError:
        sh(["groupadd", "--system", wsck.SOCK_GROUP])
    try:
        pwd.getpwnam(wsck.SYS_USER)
    except KeyError:
        sh(["useradd", "--system", "-g", wsck.SOCK_GROUP, "-d", "/nonexistent",
            "-s", "/usr/sbin/nologin", wsck.SYS_USER])
    d = wsck.Daemon()
    try:
        d.start()
        yield d
    except BaseException:
        print("==== daemon log (%s) ====\n%s" % (d.dir, d.log_tail(80)))
        raise
    finally:
        errors = d.cleanup()
    assert not errors, "teardown problems: %s" % errors


def test_completion_against_daemon(root_daemon):
    """Ids come from a real daemon's JSON; ids in metadata are not offered."""
    d = root_daemon
    ws = d.make_ws(None)
    ws_id = wsck.init_ws(d, None, ws)
    wsck.checkpoint(d, None, ws, "step-1")
    wsck.checkpoint(d, None, ws, "t:10:00", "--metadata", '{"id":"decoy"}')
    cli, sock = str(wsck.CLI), str(d.sock)
    got = complete([
        [cli, "-S", sock, "rollback", "-w", str(ws), "-s", ""],
        [cli, "-S", sock, "delete", "-s", "t", ":", "1"],
        [cli, "--socket", "=", sock, "status", "-w", "ws-"],
    ])
    assert got[0] == ["step-1", "t:10:00"]
    assert got[1] == ["10:00"]
    assert got[2] == [ws_id]
