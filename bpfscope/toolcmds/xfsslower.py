"""xfsslower: XFS reads, writes, opens and fsyncs slower than a threshold, one line each.

bcc's xfsslower, laid out as ext4slower (``TIME COMM PID T BYTES OFF_KB
LAT(ms) FILENAME``, ``-j`` CSV), for files on XFS. It needs a kernel
with XFS (built in, or the xfs module loaded: /proc/filesystems);
without it, it says so and exits 1. bcc times XFS's functions with
kprobes; here the system calls are timed (see fsslower.py).
"""

from __future__ import annotations

from . import fsslower
from .common import Plan, ToolParser
from .ext4slower import fs_build, fs_parser

FS, MAGIC = "xfs", 0x58465342
HOOKS = fsslower.hooks(True)


def parser() -> ToolParser:
    return fs_parser("xfsslower", FS)


def build(opts) -> Plan:
    return fs_build(opts, FS, MAGIC)
