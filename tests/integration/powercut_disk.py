#!/usr/bin/python3
"""A disk that forgets what was not flushed: FUSE file system serving one image file for a
loop device, for power-cut tests (tests/integration/test_power_cut.py).

    powercut_disk.py DURABLE_IMAGE MOUNTPOINT

MOUNTPOINT/disk.img reads and writes like DURABLE_IMAGE, except that writes are held in
memory until an fsync (which is what the loop driver turns a block-layer flush, and so a
FUA write, into). That is the contract a real disk with a volatile write cache gives a file
system: only what a flush covered survives a power cut.

MOUNTPOINT/ctl takes commands, one per write:
    cut PATH        copy what is durable now to PATH (a new file): the disk as a power cut
                    at this instant leaves it. The writes since the last flush are counted,
                    not kept.
MOUNTPOINT/stats reads as JSON: flushes, writes, pending_blocks, and per cut the number of
pending blocks it dropped, so a test can prove its cut lost something.

Operations are served one at a time (no threads), so a cut never sees half a flush.
"""
import errno
import json
import os
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

BLOCK = 4096


class PowerCutDisk(Operations):
    def __init__(self, durable):
        self.fd = os.open(durable, os.O_RDWR | os.O_CLOEXEC)
        self.size = os.fstat(self.fd).st_size
        self.pending = {}      # block number -> bytes(BLOCK), written but not flushed
        self.stats = {"flushes": 0, "writes": 0, "cuts": []}
        self.t0 = time.time()

    # ---- the image
    def _block(self, n):
        b = self.pending.get(n)
        if b is not None:
            return b
        data = os.pread(self.fd, BLOCK, n * BLOCK)
        return data + bytes(BLOCK - len(data))

    def read(self, path, size, offset, fh):
        if path == "/stats":
            s = dict(self.stats, pending_blocks=len(self.pending))
            return json.dumps(s).encode()[offset:offset + size]
        if path != "/disk.img":
            raise FuseOSError(errno.EINVAL)
        size = max(0, min(size, self.size - offset))
        out = bytearray()
        pos = offset
        while pos < offset + size:
            n, off = divmod(pos, BLOCK)
            take = min(BLOCK - off, offset + size - pos)
            out += self._block(n)[off:off + take]
            pos += take
        return bytes(out)

    def write(self, path, data, offset, fh):
        if path == "/ctl":
            return self._command(data)
        if path != "/disk.img":
            raise FuseOSError(errno.EINVAL)
        if offset + len(data) > self.size:
            raise FuseOSError(errno.ENOSPC)
        pos = 0
        while pos < len(data):
            n, off = divmod(offset + pos, BLOCK)
            take = min(BLOCK - off, len(data) - pos)
            if take == BLOCK:
                blk = bytes(data[pos:pos + BLOCK])
            else:
                b = bytearray(self._block(n))
                b[off:off + take] = data[pos:pos + take]
                blk = bytes(b)
            self.pending[n] = blk
            pos += take
        self.stats["writes"] += 1
        return len(data)

    def fsync(self, path, datasync, fh):
        if path == "/disk.img":
            for n in sorted(self.pending):
                os.pwrite(self.fd, self.pending[n], n * BLOCK)
            self.pending.clear()
            self.stats["flushes"] += 1
        return 0

    def flush(self, path, fh):
        return 0  # close(2), not a disk flush

    # ---- control
    def _command(self, data):
        words = data.decode().split()
        if len(words) != 2 or words[0] != "cut":
            raise FuseOSError(errno.EINVAL)
        self._copy_durable(words[1])
        self.stats["cuts"].append({"path": words[1], "dropped_blocks": len(self.pending),
                                   "flushes": self.stats["flushes"]})
        return len(data)

    def _copy_durable(self, dest):
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(out, self.size)
            pos = 0
            while pos < self.size:  # sparse copy: data extents only
                try:
                    pos = os.lseek(self.fd, pos, os.SEEK_DATA)
                except OSError as e:
                    if e.errno == errno.ENXIO:
                        break
                    raise
                end = os.lseek(self.fd, pos, os.SEEK_HOLE)
                while pos < end:
                    chunk = os.pread(self.fd, min(1 << 20, end - pos), pos)
                    os.pwrite(out, chunk, pos)
                    pos += len(chunk)
        finally:
            os.close(out)

    # ---- the file system around it
    def getattr(self, path, fh=None):
        now = self.t0
        base = {"st_uid": 0, "st_gid": 0, "st_atime": now, "st_mtime": now, "st_ctime": now}
        if path == "/":
            return dict(base, st_mode=stat.S_IFDIR | 0o700, st_nlink=2)
        if path == "/disk.img":
            return dict(base, st_mode=stat.S_IFREG | 0o600, st_nlink=1, st_size=self.size)
        if path == "/ctl":
            return dict(base, st_mode=stat.S_IFREG | 0o200, st_nlink=1, st_size=0)
        if path == "/stats":
            return dict(base, st_mode=stat.S_IFREG | 0o400, st_nlink=1, st_size=0)
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", "disk.img", "ctl", "stats"]

    def open(self, path, flags):
        if path not in ("/disk.img", "/ctl", "/stats"):
            raise FuseOSError(errno.ENOENT)
        return 0

    def truncate(self, path, length, fh=None):
        if path == "/ctl":
            return 0
        raise FuseOSError(errno.EPERM)

    def statfs(self, path):
        return {"f_bsize": BLOCK, "f_frsize": BLOCK, "f_blocks": 1 << 24, "f_bfree": 1 << 23,
                "f_bavail": 1 << 23, "f_namemax": 255}


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: powercut_disk.py DURABLE_IMAGE MOUNTPOINT\n")
        return 2
    # direct_io: every read and write reaches us (no page cache of the image in between),
    # so what the loop device wrote but did not flush is only ever here.
    FUSE(PowerCutDisk(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True,
         direct_io=True, fsname="wsck-powercut")
    return 0


if __name__ == "__main__":
    sys.exit(main())
