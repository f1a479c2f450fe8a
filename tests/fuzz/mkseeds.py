#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<name>/.

The seeds are committed; this script documents how the binary ones (imsg, dispatch)
are laid out and regenerates them all: python3 tests/fuzz/mkseeds.py
struct ps_request's layout is taken from proto/privsep.h by compiling a small
offsetof() program (needs cc); struct imsg_hdr is five little-endian u32.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

# proto/privsep.h
OP = dict(version=1, init=2, checkpoint=3, rollback=4, delete=5, list=6, status=7, diff=8,
          pin=9, cleanup=10, recover=11, reload=12, config=13, config_set=14)
PSF_FORCE, PSF_DISCARD, PSF_MSG, PSF_WS, PSF_FROM_LIVE, PSF_PIN = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
PS_CLIENT_HELLO, PS_CLIENT_BYE, PS_REQUEST = 1, 2, 3
PS_REPLY_DATA, PS_REPLY_END = 100, 101
IMSGF_HASFD = 0x1

REQ_FIELDS = ("req_id", "op", "flags", "workspace", "snapshot", "message", "snapshot2",
              "number", "metadata_len", "reserved")


def request_layout():
    """Offsets and sizes of struct ps_request, from the real header (it changes)."""
    src = "#include <stddef.h>\n#include <stdio.h>\n#include \"proto/privsep.h\"\n" \
          "#define F(f) printf(\"%s %zu %zu\\n\", #f, offsetof(struct ps_request, f), " \
          "sizeof(((struct ps_request *)0)->f));\n" \
          "int main(void) { printf(\"size 0 %zu\\n\", sizeof(struct ps_request)); " + \
          " ".join("F(%s)" % f for f in REQ_FIELDS) + " return 0; }\n"
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "layout")
        subprocess.run([os.environ.get("CC", "cc"), "-I", REPO, "-x", "c", "-", "-o", exe],
                       input=src.encode(), check=True)
        out = subprocess.run([exe], check=True, capture_output=True).stdout.decode()
    return {name: (int(off), int(size)) for name, off, size in (l.split() for l in out.splitlines())}


LAYOUT = request_layout()


def ps_request(op, flags=0, ws=b"", snap=b"", msg=b"", meta=b"", req_id=1, meta_len=None,
               snap2=b"", number=0):
    body = bytearray(LAYOUT["size"][1])

    def put(name, value):
        off, size = LAYOUT[name]
        if isinstance(value, int):
            value = value.to_bytes(size, "little")
        assert len(value) < size or name not in ("workspace", "snapshot", "message", "snapshot2")
        body[off:off + len(value)] = value
    put("req_id", req_id)
    put("op", op)
    put("flags", flags)
    put("workspace", ws)
    put("snapshot", snap)
    put("message", msg)
    put("snapshot2", snap2)
    put("number", number)
    put("metadata_len", len(meta) if meta_len is None else meta_len)
    return bytes(body) + meta


def imsg(type_, payload=b"", flags=0, peerid=0, pid=1234, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IIIII", type_, n, flags, peerid, pid) + payload


def write(name, files):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fname, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


def config():
    full = """# every key, one of each kind
socket_path = "/run/ws-ckpt/ws-ckpt.sock"
socket_group = "ws-ckpt"
state_dir = '/var/lib/ws-ckpt'
frontd_user = "ws-ckpt"
admin_group = "wheel"
frontd_path = "/usr/libexec/ws-ckpt/ws-ckpt-frontd"
auto_cleanup = true
auto_cleanup_keep = "30d"
auto_cleanup_interval_secs = 86_400
health_check_interval_secs = 300
max_workspaces_per_user = 0
max_snapshots_per_workspace = 4294967295
max_connections_per_uid = 32
max_connections = 256

[backend]
type = "btrfs-loop"   # trailing comment

[backend.btrfs-loop]
img_path = "/var/lib/ws-ckpt/btrfs-data.img"
img_size = 30
img_max_percent = 40.5
mount_path = "/mnt/btrfs-workspace"

[ backend.btrfs-base ]
btrfs_mount = "/srv/btrfs"
"""
    write("config", {
        "empty": "",
        "comments_only": "# nothing\n\n   # indented\n",
        "full": full,
        "crlf": "state_dir = \"/var/lib/x\"\r\n[backend]\r\ntype = 'auto'\r\n",
        "escapes": 'admin_group = "adm"\nsocket_path = "/run/a\\tb\\"c\\\\d"\n',
        "keep_count": "auto_cleanup_keep = 7\n",
        "percent_int": "[backend.btrfs-loop]\nimg_max_percent = 100\nimg_size = 1e3\n",
        "dup_key": "max_connections = 1\nmax_connections = 2\n",
        "unknown_section": "[backend.zfs]\nx = 1\n",
        "array": "socket_path = [\"/a\"]\n",
        "unterminated": "socket_path = \"/run/x\n",
        "bad_number": "img_size = 0x10\nmax_connections = -1\n",
        "array_table": "[[backend]]\n",
        "no_newline": "[backend]\ntype = \"btrfs-base\"",
    })


def request():
    def line(o):
        return json.dumps(o, separators=(",", ":"), ensure_ascii=False)
    deep = '{"v":1,"id":1,"op":"checkpoint","workspace":"/w","snapshot":"s","metadata":' + \
        "[" * 30 + "]" * 30 + "}"
    write("request", {
        "version": line({"v": 1, "id": 1, "op": "version"}),
        "init": line({"v": 1, "id": 2, "op": "init", "workspace": "/home/alice/proj/"}),
        "checkpoint": line({"v": 1, "id": 3, "op": "checkpoint", "workspace": "/home/alice/./proj",
                            "snapshot": "before-refactor", "message": "caf\u00e9 \u2603",
                            "metadata": {"agent": "x", "step": 4, "tags": ["a", None, True, 1.5e3]}}),
        "rollback": line({"v": 1, "id": 4, "op": "rollback", "workspace": "ws-0a1b2c",
                          "snapshot": "v1.0+build:7@x", "discard_current": True}),
        "delete": line({"v": 1, "id": 5, "op": "delete", "snapshot": "old", "force": False,
                        "workspace": None}),
        "list": line({"v": 1, "id": 9007199254740991, "op": "list"}),
        "status": line({"v": 1, "id": 0, "op": "status", "workspace": "ws-ffffff"}),
        "deep_metadata": deep,
        "too_deep": "[" * 40 + "]" * 40,
        "escapes": '{"v":1,"id":7,"op":"checkpoint","workspace":"\\/w\\u0000x","snapshot":"a",'
                   '"message":"\\ud83d\\ude00\\n","metadata":"\\u0000"}',
        "bad_id": '{"v":1,"id":1.5,"op":"version"}',
        "bad_v": '{"v":2,"id":1,"op":"version"}',
        "not_object": "[1,2,3]",
        "dotdot": line({"v": 1, "id": 1, "op": "init", "workspace": "/home/../etc"}),
        "dup_keys": '{"v":1,"id":1,"op":"list","op":"init","workspace":"/a","workspace":7}',
        "diff": line({"v": 1, "id": 8, "op": "diff", "workspace": "/w", "from": "a", "to": "b"}),
        "preview": line({"v": 1, "id": 9, "op": "rollback", "workspace": "/w", "snapshot": "a",
                         "preview": True}),
        "pin": line({"v": 1, "id": 10, "op": "pin", "workspace": "ws-00beef", "snapshot": "a"}),
        "unpin": line({"v": 1, "id": 11, "op": "unpin", "workspace": "/w", "snapshot": "a"}),
        "cleanup": line({"v": 1, "id": 12, "op": "cleanup", "workspace": "/w", "keep": 1000000}),
        "recover": line({"v": 1, "id": 13, "op": "recover", "workspace": "/w"}),
        "reload": line({"v": 1, "id": 15, "op": "reload"}),
        "config_get": line({"v": 1, "id": 16, "op": "config"}),
        "config_set": line({"v": 1, "id": 17, "op": "config_set",
                            "set": {"auto_cleanup": True, "auto_cleanup_keep": "30d",
                                    "img_size": 40, "img_max_percent": 55.5}}),
        "config_set_order": line({"v": 1, "id": 18, "op": "config_set",
                                  "set": {"img_size": 1e300, "auto_cleanup": False}}),
        "checkpoint_pin": line({"v": 1, "id": 14, "op": "checkpoint", "workspace": "/w",
                                "snapshot": "p", "pin": True, "metadata": -0.0}),
    })


def dispatch():
    raw = lambda body: b"\0" + body  # even first byte: raw mode

    def st(op, flags, knobs, ws=b"", snap=b"", msg=b"", meta=b"", snap2=b"", knobs2=0):
        return bytes([1, op, flags, knobs, knobs2]) + ws + b"\n" + snap + b"\n" + msg + b"\n" + \
            snap2 + b"\n" + meta

    write("dispatch", {
        "raw_version": raw(ps_request(OP["version"])),
        "raw_init": raw(ps_request(OP["init"], PSF_WS, ws=b"/home/alice/proj")),
        "raw_checkpoint": raw(ps_request(OP["checkpoint"], PSF_WS | PSF_MSG, ws=b"ws-0a1b2c",
                                         snap=b"s1", msg=b"hello", meta=b'{"k":[1,2,{"x":null}]}')),
        "raw_rollback": raw(ps_request(OP["rollback"], PSF_WS | PSF_DISCARD, ws=b"/w", snap=b"s1")),
        "raw_delete": raw(ps_request(OP["delete"], PSF_FORCE, snap=b"s1")),
        "raw_list": raw(ps_request(OP["list"])),
        "raw_status_ws": raw(ps_request(OP["status"], PSF_WS, ws=b"ws-123abc")),
        "raw_bad_len": raw(ps_request(OP["checkpoint"], PSF_WS, ws=b"/w", snap=b"s", meta=b"{}",
                                      meta_len=3)),
        "raw_short": raw(ps_request(OP["version"])[:100]),
        "st_checkpoint": st(OP["checkpoint"], PSF_WS | PSF_MSG, 0, b"/home/a", b"snap", b"msg",
                            b'{"a":"b"}'),
        "st_rollback": st(OP["rollback"], PSF_WS | PSF_DISCARD, 0, b"ws-abcdef", b"x"),
        "st_delete": st(OP["delete"], PSF_FORCE | PSF_WS, 0, b"/a/b", b"y"),
        "st_unterminated": st(OP["checkpoint"], PSF_WS, 0x07, b"/w", b"s", b"m"),
        "st_meta_mismatch": st(OP["checkpoint"], PSF_WS, 0x08, b"/w", b"s", b"", b"[]"),
        "st_meta_nul": st(OP["checkpoint"], PSF_WS, 0, b"/w", b"s", b"", b'"a\0b"'),
        "st_unnormalized": st(OP["init"], PSF_WS, 0, b"/w//x/./", b""),
        "st_bad_op": st(0, 0, 0x80),
        "st_diff_live": st(OP["diff"], PSF_WS | PSF_FROM_LIVE, 0, b"/w", b"", b"", b"", b"s2"),
        "st_diff_both": st(OP["diff"], PSF_WS, 0, b"ws-000001", b"s1", b"", b"", b"s2"),
        "st_cleanup": st(OP["cleanup"], PSF_WS, 0, b"/w", knobs2=20 << 2),
        "st_number_elsewhere": st(OP["list"], 0, 0, knobs2=1 << 2),
        "st_pin": st(OP["pin"], PSF_WS | PSF_PIN, 0, b"/w", b"s"),
        "st_reserved": st(OP["recover"], PSF_WS, 0, b"/w", knobs2=0x02),
        "st_meta_trailing": st(OP["checkpoint"], PSF_WS, 0, b"/w", b"s", b"", b'{}, "x": 1'),
        "st_meta_raw_newline": st(OP["checkpoint"], PSF_WS, 0, b"/w", b"s", b"", b'["a\nb"]'),
        "st_meta_bad_utf8": st(OP["checkpoint"], PSF_WS | PSF_MSG, 0, b"/w", b"s", b"\xff", b'"\xc0\x80"'),
        "raw_diff": raw(ps_request(OP["diff"], PSF_WS, ws=b"/w", snap=b"a", snap2=b"b")),
        "raw_cleanup": raw(ps_request(OP["cleanup"], PSF_WS, ws=b"/w", number=5)),
        "st_config_set": st(OP["config_set"], PSF_MSG, 0, b"", b"",
                            b"auto_cleanup = true"),
        "st_reload": st(OP["reload"], 0, 0),
    })


def state():
    loop = {
        "version": 1,
        "backend": {"backend_type": "BtrfsLoop", "selection_method": "auto-detect",
                    "selected_at": "2026-01-02T03:04:05.123456789Z"},
        "paths": {"backend": "BtrfsLoop", "mount_path": "/mnt/btrfs-workspace",
                  "data_root": "/mnt/btrfs-workspace/data",
                  "snapshots_root": "/mnt/btrfs-workspace/snapshots",
                  "loop_img": {"img_path": "/var/lib/ws-ckpt/btrfs-data.img",
                               "img_size_bytes": 32212254720, "last_loop_device": "/dev/loop3"}},
        "workspaces": [
            {"ws_id": "ws-0a1b2c", "workspace_path": "/home/alice/proj",
             "registered_at": "2026-01-02T03:04:05Z", "origin_backend": "BtrfsLoop",
             "owner_uid": 1000, "owner_gid": 1000, "phase": "ready"},
            {"ws_id": "ws-ffffff", "workspace_path": "/srv/x", "phase": "initializing",
             "owner_uid": 4294967294, "owner_gid": 0},
        ],
    }
    base = {
        "version": 1,
        "backend": {"backend_type": "BtrfsBase"},
        "paths": {"mount_path": "/srv/btrfs", "data_root": "/srv/btrfs/data",
                  "snapshots_root": "/srv/btrfs/snaps", "loop_img": None},
        "workspaces": [],
    }
    rust = {  # as the Rust ws-ckpt writes it: no owner, no phase
        "version": 1,
        "backend": {"backend_type": "BtrfsLoop", "selection_method": "persisted",
                    "selected_at": "2025-12-31T23:59:60+01:00"},
        "paths": {"mount_path": "/m", "data_root": "/m/d", "snapshots_root": "/m/s",
                  "loop_img": {"img_path": "/i.img", "img_size_bytes": 1.5e10,
                               "last_loop_device": None}},
        "workspaces": [{"ws_id": "ws-000001", "workspace_path": "/home/bob/w"}],
    }
    dup = json.loads(json.dumps(rust))
    dup["workspaces"].append(dict(dup["workspaces"][0]))
    write("state", {
        "loop": json.dumps(loop, indent=2),
        "base": json.dumps(base),
        "rust": json.dumps(rust),
        "dup_ws": json.dumps(dup),
        "bad_version": json.dumps(dict(base, version=2)),
        "empty_object": "{}",
        "trailing": json.dumps(base) + " garbage",
        "bom": "\ufeff" + json.dumps(base),
        "big_numbers": json.dumps(loop).replace("32212254720", "1e300").replace("1000,", "-1e300,"),
    })


def index():
    idx = {
        "workspace_path": "/home/alice/proj",
        "snapshots": {
            "s2": {"message": "second", "metadata": {"k": [1, 2]}, "pinned": True,
                   "created_at": "2026-01-02T03:04:06.5Z", "missing": False},
            "s1": {"message": None, "metadata": None, "pinned": False,
                   "created_at": "2026-01-02T03:04:05+02:00", "missing": True},
            "v1.0+b:7@x": {"created_at": "2024-02-29T23:59:59.999999999999-00:30"},
        },
        "pending_delete": ["s1", "bad/id", 5, ".diff-0001", "..x", ".", "." + "d" * 128],
        "rollback_intent": {"target": "s2", "keep_as": "auto-20261126T101010",
                            "tmp_subvol": 4096, "live_subvol": 300},
    }
    write("index", {
        "normal": json.dumps(idx, indent=2),
        "empty": '{"workspace_path":"/w","snapshots":{}}',
        "no_snapshots": "{}",
        "dup_snapshot": '{"snapshots":{"a":{"created_at":"2026-01-01T00:00:00Z"},'
                        '"a":{"created_at":"2026-01-01T00:00:01Z"}}}',
        "bad_date": '{"snapshots":{"a":{"created_at":"2026-02-30T00:00:00Z"}}}',
        "bad_id": '{"snapshots":{".hidden":{"created_at":"2026-01-01T00:00:00Z"}}}',
        "snapshots_array": '{"snapshots":[]}',
        "same_time": '{"snapshots":{"b":{"created_at":"2026-01-01T00:00:00Z"},'
                     '"a":{"created_at":"2026-01-01T00:00:00.000Z"}}}',
        "year_edge": '{"snapshots":{"a":{"created_at":"0000-01-01T00:00:00Z"},'
                     '"b":{"created_at":"9999-12-31T23:59:60+23:59"}}}',
    })


def imsg_corpus():
    req = ps_request(OP["version"])
    hello = imsg(PS_CLIENT_HELLO, b"", IMSGF_HASFD, peerid=1)
    bye = imsg(PS_CLIENT_BYE, peerid=1)
    reply = imsg(PS_REPLY_DATA, struct.pack("<Q", 1) + b'{"ok":true}', peerid=1)

    def direct(*chunks):
        out = b"\0"
        for c in chunks:
            if isinstance(c, tuple):  # ("fill", byte, m)
                out += bytes([0xff, c[1], c[2]])
            else:
                while True:
                    n = min(len(c), 0xfe)
                    out += bytes([n]) + c[:n]
                    c = c[n:]
                    if not c:
                        break
        return out

    def sock(*chunks):
        out = b"\1"
        for c in chunks:
            ctl, data = c if isinstance(c, tuple) else (0, c)
            while True:
                n = min(len(data), 255)
                out += bytes([ctl, n]) + data[:n]
                data = data[n:]
                ctl &= ~0x80  # descriptors go with the first piece only
                if not data:
                    break
        return out

    full_hdr = imsg(PS_REQUEST, length=256 * 1024)
    write("imsg", {
        "d_bye": direct(bye),
        "d_two_in_one": direct(bye + reply),
        "d_split": direct(reply[:7], reply[7:23], reply[23:]),
        "d_request": direct(imsg(PS_REQUEST, req, peerid=3)),
        "d_hasfd_without_fd": direct(hello),
        "d_oversize": direct(imsg(PS_REQUEST, length=256 * 1024 + 1)),
        "d_bad_flags": direct(imsg(PS_CLIENT_BYE, flags=0x2)),
        "d_max_payload": direct(full_hdr, ("fill", 0x41, 255)),
        "d_max_payload_then_more": direct(full_hdr, ("fill", 0, 127), ("fill", 0, 127), bye),
        "d_fill_without_header": direct(("fill", 0, 3), bye[:10], ("fill", 0, 3), bye[10:]),
        "s_bye": sock(bye),
        "s_hello_fd": sock((0x80, hello), bye),
        "s_fd_unannounced": sock((0x80, bye)),
        "s_fd_mid_message": sock(reply[:5], (0x80, reply[5:])),
        "s_two_fds": sock((0x81, hello)),
        "s_five_fds": sock((0x84, hello)),
        "s_eight_fds": sock((0x87, hello), (0x80, hello), (0x80, hello)),
        "s_merged": sock((0xc0, hello), (0x40, bye), reply),
        "s_eof_partial": sock((0x20, reply[:10])),
        "s_request": sock(imsg(PS_REQUEST, req, peerid=9)),
    })


def crc32c(data, crc=0):
    """As frontd/sendstream.h: Castagnoli, seed 0, no pre/post inversion."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def sendstream():
    A = dict(uuid=1, ctransid=2, ino=3, size=4, mode=5, uid=6, gid=7, rdev=8, ctime=9,
             mtime=10, atime=11, path=15, path_to=16, path_link=17, file_offset=18, data=19,
             clone_uuid=20, clone_ctransid=21, clone_path=22, clone_offset=23, clone_len=24,
             xattr_name=13, xattr_data=14, fallocate_mode=25, fileattr=26)
    C = dict(subvol=1, snapshot=2, mkfile=3, mkdir=4, symlink=8, rename=9, link=10, unlink=11,
             rmdir=12, set_xattr=13, write=15, clone=16, truncate=17, chmod=18, chown=19,
             utimes=20, end=21, update_extent=22, fallocate=23, fileattr=24, enable_verity=26)

    def tlv(name, value):
        if isinstance(value, int):
            value = struct.pack("<Q", value)
        return struct.pack("<HH", A[name], len(value)) + value

    def cmd(name, *tlvs, crc=True, raw_payload=None):
        payload = raw_payload if raw_payload is not None else b"".join(tlvs)
        hdr = struct.pack("<IHI", len(payload), C[name] if isinstance(name, str) else name, 0)
        c = crc32c(hdr + payload) if crc else 0xdeadbeef
        return struct.pack("<IHI", len(payload), C[name] if isinstance(name, str) else name, c) + payload

    def stream(version, *cmds):
        return b"btrfs-stream\0" + struct.pack("<I", version) + b"".join(cmds)

    uuid = bytes(range(16))
    ts = struct.pack("<QI", 1767225600, 5)
    snap = cmd("snapshot", tlv("path", b"snap-b"), tlv("uuid", uuid), tlv("ctransid", 9),
               tlv("clone_uuid", uuid[::-1]), tlv("clone_ctransid", 7))
    body = [
        cmd("mkfile", tlv("path", b"o257-8-0"), tlv("ino", 257)),
        cmd("rename", tlv("path", b"o257-8-0"), tlv("path_to", b"dir/new file")),
        cmd("mkdir", tlv("path", b"o258-9-0"), tlv("ino", 258)),
        cmd("symlink", tlv("path", b"l"), tlv("ino", 259), tlv("path_link", b"../target")),
        cmd("link", tlv("path", b"hard"), tlv("path_link", b"dir/new file")),
        cmd("unlink", tlv("path", b"gone")),
        cmd("rmdir", tlv("path", b"olddir")),
        cmd("set_xattr", tlv("path", b"f"), tlv("xattr_name", b"user.x"), tlv("xattr_data", b"\0\1")),
        cmd("update_extent", tlv("path", b"f"), tlv("file_offset", 0), tlv("size", 4096)),
        cmd("truncate", tlv("path", b"f"), tlv("size", 10)),
        cmd("chmod", tlv("path", b"f"), tlv("mode", 0o644)),
        cmd("chown", tlv("path", b"f"), tlv("uid", 1000), tlv("gid", 1000)),
        cmd("utimes", tlv("path", b"f"), tlv("atime", ts), tlv("mtime", ts), tlv("ctime", ts)),
    ]
    end = cmd("end")
    write("sendstream", {
        # byte 0: knobs (bit 0: fix crcs; bits 1..7: chunking)
        "v1_incremental": b"\0" + stream(1, snap, *body, end),
        "v1_chunked": bytes([0x2a]) + stream(1, snap, *body, end),
        "v2_data": b"\x01" + stream(2, cmd("subvol", tlv("path", b"s"), tlv("uuid", uuid),
                                            tlv("ctransid", 1)),
                                   cmd("write", tlv("path", b"f"), tlv("file_offset", 0)),
                                   cmd("fallocate", tlv("path", b"f"), tlv("fallocate_mode", 1),
                                       tlv("file_offset", 0), tlv("size", 8)),
                                   end),
        "v2_data_attr": b"\0" + stream(2, cmd("write", raw_payload=struct.pack("<HH", 15, 1) + b"f" +
                                                struct.pack("<H", 19) + b"file bytes"), end),
        "v3_verity": b"\0" + stream(3, cmd("enable_verity", tlv("path", b"f")), end),
        "empty": b"\0",
        "header_only": b"\0" + stream(1),
        "bad_magic": b"\0btrfs-streaX\0\1\0\0\0",
        "bad_version": b"\0" + stream(4, end),
        "bad_crc": b"\0" + stream(1, cmd("mkdir", tlv("path", b"d"), crc=False), end),
        "v1_cmd_too_new": b"\x01" + stream(1, cmd("fallocate", tlv("path", b"f")), end),
        "unknown_attr": b"\x01" + stream(1, cmd("mkdir", raw_payload=struct.pack("<HH", 200, 2) + b"zz" +
                                                  tlv("path", b"d")), end),
        "dup_attr": b"\x01" + stream(1, cmd("mkdir", tlv("path", b"a"), tlv("path", b"b")), end),
        "overrun": b"\x01" + stream(1, cmd("mkdir", raw_payload=struct.pack("<HH", 15, 50) + b"x"), end),
        "after_end": b"\0" + stream(1, end, end),
        "path_with_nul": b"\x01" + stream(1, cmd("mkdir", tlv("path", b"a\0b")), end),
        "long_path": b"\x01" + stream(1, cmd("mkdir", tlv("path", b"p" * 5000)), end),
        "oversized_cmd": b"\0" + stream(1) + struct.pack("<IHI", 70000, 4, 0),
        "truncated": b"\0" + stream(1, snap)[:-3],
    })


def journal():
    def line(seq, head="", put=None, dele=(), pend=(), rb=None, extra=None):
        return json.dumps(dict({"seq": seq, "head": head, "rollback_intent": rb,
                                "pending_delete": list(pend), "del": list(dele),
                                "put": put or {}}, **(extra or {})),
                          separators=(",", ":")) + "\n"
    rb = {"target": "s1", "keep_as": "auto-20261126T101010", "tmp_subvol": 300,
          "live_subvol": 299}
    rec = {"message": "m", "metadata": {"k": 1}, "pinned": True,
           "created_at": "2026-01-02T03:04:07Z", "missing": False, "parent": "s2"}
    write("journal", {
        "put_del": line(2, "s3", {"s3": rec}) + line(3, "s1", dele=["s2"], pend=["s2"]),
        "old_lines_skipped": line(1, "x", {"x": rec}) + line(2, "s2"),
        "reput": line(2, "s1", {"s1": dict(rec, pinned=False)}) + line(3, "s1", {"s1": rec}),
        "torn": line(2, "s3", {"s3": rec}) + line(3, "s1")[:30],
        "bad_middle": line(2, "s3", {"s3": rec}) + "{]\n" + line(4, "s9"),
        "seq_backwards": line(5, "s1") + line(4, "s2"),
        "bad_record": line(2, "s3", {"../x": rec}),
        "rollback_intent": line(2, "s1", rb=rb) + line(3, "s1", rb=dict(rb, keep_as="")) +
                           line(4, "s3", {"s3": rec}),
        "rollback_intent_bad": line(2, "s1", rb=dict(rb, tmp_subvol=298)),
        # a checkpoint recorded before its snapshot was made
        "creating": line(2, "s3", {"s3": rec}, extra={"creating": "s3"}) + line(3, "s3"),
        # written before the copy of the target existed: no copy id
        "rollback_intent_no_copy": line(2, "s1", rb=dict(rb, keep_as="", tmp_subvol=0,
                                                         head_moved=False)),
        # written before the field existed
        "no_intent_key": '{"seq":2,"head":"s1","pending_delete":[],"del":[],"put":{}}\n',
    })


def config_edit():
    # first byte: which edit (see fuzz_config_edit.c edits[]); then the file
    write("config_edit", {
        "empty": b"\x00",
        "top_keys": b"\x02# ws-ckpt\nauto_cleanup = false  # off\nauto_cleanup_keep = 20\n\n"
                    b"[backend.btrfs-loop]\nimg_size = 20\n",
        "section_missing": b"\x06socket_path = \"/run/ws-ckpt/ws-ckpt.sock\"\n# end\n",
        "section_present": b"\x07[backend]\ntype = \"btrfs-loop\"\n[backend.btrfs-loop]\n# size\n"
                           b"img_max_percent = 80 # x\n",
        "no_final_newline": b"\x03auto_cleanup_keep = \"7d\"",
        "crlf": b"\x01auto_cleanup = true\r\n# c\r\n",
    })


if __name__ == "__main__":
    config()
    request()
    dispatch()
    state()
    index()
    journal()
    config_edit()
    imsg_corpus()
    sendstream()
