"""The kernel's record of executable mappings: PERF_RECORD_MMAP2 and exec.

A perf "dummy" software event opened with the mmap/mmap2/comm/comm_exec
attribute bits counts nothing but makes the kernel write a record into the
event's ring buffer each time a process maps a file executable (the
program and its interpreter at exec, every library ld.so loads, dlopen)
and each time a process execs. The record is written synchronously, in the
process, before mmap() returns, so it is there even for a process that has
exited by the time user space looks: the one way to symbolize the stacks
of very short-lived processes (perf record works the same way).

:class:`MmapEvents` opens one such event per CPU (every process) or one for
a pid and its children, and :meth:`MmapEvents.read` returns the records
written since the last call, decoded. The ring buffer layout is the
kernel's perf_event_mmap_page: data_head at byte 1024 (the kernel's write
position), data_tail at 1032 (ours), the data area from data_offset.
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import NamedTuple

from .consts import PerfAttrFlag, PerfSwId, PerfType
from .perf import online_cpus, perf_event_open
from .sys import page_size

# perf_event_attr bits past PerfAttrFlag's: mmap2 and comm_exec
_MMAP2 = 1 << 23
_COMM_EXEC = 1 << 24

PERF_RECORD_LOST = 2
PERF_RECORD_COMM = 3
PERF_RECORD_MMAP2 = 10
PERF_RECORD_MISC_COMM_EXEC = 1 << 13
PERF_RECORD_MISC_MMAP_BUILD_ID = 1 << 14
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED = 1

_HEAD, _TAIL, _DATA_OFFSET, _DATA_SIZE = 1024, 1032, 1040, 1048
_MMAP2_FIXED = struct.Struct("<IIQQQIIQQII")   # pid .. flags, then the file name


class MappedFile(NamedTuple):
    """One executable mapping a process made: as a /proc/PID/maps line."""
    pid: int
    start: int
    end: int
    offset: int
    dev: str          # 'maj:min' in hex, as /proc/PID/maps writes it
    inode: int
    perms: str        # 'r-xp'
    path: str


class Exec(NamedTuple):
    """Process pid ran a new program (its earlier mappings are gone)."""
    pid: int
    comm: str


def decode_record(rtype: int, misc: int, body: bytes):
    """A MappedFile, an Exec or None (records of other kinds)."""
    if rtype == PERF_RECORD_MMAP2 and len(body) >= _MMAP2_FIXED.size:
        (pid, _tid, addr, length, pgoff, maj, minor, ino, _gen, prot,
         flags) = _MMAP2_FIXED.unpack_from(body)
        if misc & PERF_RECORD_MISC_MMAP_BUILD_ID:
            maj = minor = ino = 0  # the union holds a build id instead
        name = body[_MMAP2_FIXED.size:].split(b"\0", 1)[0].decode(errors="replace")
        perms = ("r" if prot & PROT_READ else "-") + ("w" if prot & PROT_WRITE else "-") + \
                ("x" if prot & PROT_EXEC else "-") + ("s" if flags & MAP_SHARED else "p")
        return MappedFile(pid, addr, addr + length, pgoff, f"{maj:02x}:{minor:02x}", ino,
                          perms, name)
    if rtype == PERF_RECORD_COMM and misc & PERF_RECORD_MISC_COMM_EXEC and len(body) >= 8:
        pid = struct.unpack_from("<I", body)[0]
        return Exec(pid, body[8:].split(b"\0", 1)[0].decode(errors="replace"))
    return None


class _Buffer:
    """One event's fd and its mapped ring buffer."""

    def __init__(self, fd: int, pages: int):
        self.fd = fd
        self.map = mmap.mmap(fd, (pages + 1) * page_size(), mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        off, size = struct.unpack_from("<QQ", self.map, _DATA_OFFSET)
        self.data_off = off or page_size()
        self.data_size = size or pages * page_size()

    def records(self):
        m = self.map
        head = struct.unpack_from("<Q", m, _HEAD)[0]
        tail = struct.unpack_from("<Q", m, _TAIL)[0]
        size, base = self.data_size, self.data_off
        while tail < head:
            pos = tail % size
            hdr = self._bytes(base, size, pos, 8)
            rtype, misc, rsize = struct.unpack("<IHH", hdr)
            if rsize < 8:
                break  # corrupt: give up on what is left
            body = self._bytes(base, size, (pos + 8) % size, rsize - 8)
            tail += rsize
            yield rtype, misc, body
        struct.pack_into("<Q", m, _TAIL, head)

    def _bytes(self, base: int, size: int, pos: int, n: int) -> bytes:
        first = min(n, size - pos)
        out = self.map[base + pos:base + pos + first]
        if first < n:  # wraps around the end of the data area
            out += self.map[base:base + n - first]
        return out

    def close(self):
        self.map.close()
        os.close(self.fd)


class MmapEvents:
    """Executable mappings and execs, of every process or of ``pid`` and
    the children it starts afterwards."""

    def __init__(self, pid: int | None = None, pages: int = 16):
        flags = (PerfAttrFlag.MMAP | PerfAttrFlag.COMM | _MMAP2 | _COMM_EXEC)
        if pid is not None:
            flags |= PerfAttrFlag.INHERIT
        where = [(pid, -1)] if pid is not None else [(-1, c) for c in online_cpus()]
        self.buffers: list[_Buffer] = []
        try:
            for p, cpu in where:
                fd = perf_event_open(PerfType.SOFTWARE, PerfSwId.DUMMY, pid=p, cpu=cpu,
                                     attr_flags=flags, wakeup_events=0)
                try:
                    self.buffers.append(_Buffer(fd, pages))
                except OSError:
                    os.close(fd)
                    raise
        except BaseException:
            self.close()
            raise

    def read(self) -> list:
        """Records written since the last read, in order per CPU."""
        out = []
        for b in self.buffers:
            for rtype, misc, body in b.records():
                rec = decode_record(rtype, misc, body)
                if rec is not None:
                    out.append(rec)
        return out

    def close(self):
        for b in self.buffers:
            b.close()
        self.buffers = []
