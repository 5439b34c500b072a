"""What ext4slower, xfsslower and fileslower share: file operations slower
than a threshold, timed from a system call's entry to its exit.

bcc times the filesystem's own functions (ext4_file_read_iter, ...) or
vfs_read/vfs_write with kprobes; here the system calls that reach them
are followed instead (tracepoints): read, write, pread64, pwrite64, readv,
writev, preadv(2), pwritev(2), and for the filesystem tools openat,
openat2, open, creat (O) and fsync, fdatasync (S). The file is found
through the descriptor (the task's file table, BTF); a filesystem tool
keeps the files whose superblock has its magic number. The latency thus
includes the system call's own small cost; I/O that takes no such call
(mmap, io_uring, sendfile) is not seen.
"""

from __future__ import annotations

import argparse
import os

from .common import record

READS = ("read", "pread64", "readv", "preadv", "preadv2")
WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
OPENS = ("openat", "openat2", "open", "creat")
SYNCS = ("fsync", "fdatasync")
NAME_LEN = 32   # DNAME_INLINE_LEN, as bcc reads the name

S_IFMT, S_IFREG = 0xF000, 0x8000


def min_ms(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return n


def hooks(ops: bool) -> tuple[str, ...]:
    calls = READS + WRITES + (OPENS + SYNCS if ops else ())
    return tuple(f"tracepoint:syscalls:sys_{w}_{c}" for c in calls for w in ("enter", "exit"))


def script(pid: int | None, min_ns: int, magic: int | None, ops: bool,
           regular_only: bool) -> str:
    """The probes: each call's start noted at entry (with its descriptor
    and the file offset it starts at), and at exit, when it took
    ``min_ns`` or more and succeeded, one ``op`` record: type (R W O S),
    end time, comm, pid, tid, bytes, offset, latency (ns) and file name.
    The tracer's own writes (its output, when that is a file) are left
    out: they would feed themselves."""
    pred = f" /pid == {pid}/" if pid else f" /pid != {os.getpid()}/"

    def enters(calls, body: str) -> str:
        return (",\n".join(f"tracepoint:syscalls:sys_enter_{c}" for c in calls) + pred
                + " {\n  @__ts[tid] = nsecs;\n" + body + "}\n")

    def exits(calls, kind: str, fd: str, size: str) -> str:
        checks = ["$d->d_name.len != 0"]
        if magic is not None:
            checks.append(f"$f->f_inode->i_sb->s_magic == {magic:#x}")
        if regular_only:
            checks.append(f"($f->f_inode->i_mode & {S_IFMT:#x}) == {S_IFREG:#x}")
        rec = record("op", [("%s", f'"{kind}"'), ("%llu", "nsecs"), ("%s", "comm"),
                            ("%d", "pid"), ("%d", "tid"), ("%lld", size),
                            ("%lld", "@__off[tid]" if kind in "RW" else "0"),
                            ("%llu", "$lat"), ("%s", f"str($d->d_name.name, {NAME_LEN})")])
        return (",\n".join(f"tracepoint:syscalls:sys_exit_{c}" for c in calls)
                + " /has_key(@__ts, tid)/ {\n"
                + "  $lat = nsecs - @__ts[tid];\n"
                + f"  if ($lat >= {min_ns} && args.ret >= 0) {{\n"
                + f"    $f = curtask->files->fdt->fd[{fd}];\n"
                + "    $d = $f->f_path.dentry;\n"
                + f"    if ({' && '.join(checks)}) {{\n      {rec}\n    }}\n  }}\n"
                + "  delete(@__ts[tid]); delete(@__fd[tid]); delete(@__off[tid]);\n}\n")

    at_fd = "  @__fd[tid] = args.fd;\n"
    f_pos = "  @__off[tid] = curtask->files->fdt->fd[args.fd]->f_pos;\n"
    text = (enters(("pread64", "pwrite64"), at_fd + "  @__off[tid] = args.pos;\n")
            + enters(("read", "readv", "preadv", "preadv2", "write", "writev", "pwritev",
                      "pwritev2"), at_fd + f_pos)
            + exits(READS, "R", "@__fd[tid]", "args.ret")
            + exits(WRITES, "W", "@__fd[tid]", "args.ret"))
    if ops:
        text += (enters(OPENS, "") + enters(SYNCS, at_fd)
                 + exits(OPENS, "O", "args.ret", "0") + exits(SYNCS, "S", "@__fd[tid]", "0"))
    return text + "END { clear(@__ts); clear(@__fd); clear(@__off); }\n"


FIELDS = ("type", "ts#", "comm", "pid#", "tid#", "bytes#", "offset#", "lat_ns#", "file")
