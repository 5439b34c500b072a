"""fileslower: synchronous file reads and writes slower than a threshold, one line each.

bcc's fileslower: ``TIME(s) COMM TID D BYTES LAT(ms) FILENAME`` for each
read or write of a regular file (any file with ``-a``) that took
``min_ms`` (10 by default) or more, TIME(s) since the first one printed.
bcc times vfs_read/vfs_write with kprobes; here the read and write
system calls are timed (bpfscope/toolcmds/fsslower.py says how).
"""

from __future__ import annotations

from . import fsslower
from .common import CONFIG, Plan, Record, ToolParser, add_json, add_pid

HOOKS = fsslower.hooks(False)

EXAMPLES = """\
    bpfscope fileslower             # trace sync file I/O slower than 10 ms (default)
    bpfscope fileslower 1           # trace sync file I/O slower than 1 ms
    bpfscope fileslower -p 185      # trace PID 185 only
    bpfscope fileslower -a 1        # sockets, pipes and other files too, slower than 1 ms
"""


def parser() -> ToolParser:
    p = ToolParser("fileslower", "Trace slow synchronous file reads and writes", EXAMPLES)
    add_pid(p, "trace this PID only")
    p.add_argument("-a", "--all-files", action="store_true",
                   help="include non-regular file types (sockets, FIFOs, etc)")
    add_json(p)
    p.add_argument("min_ms", nargs="?", type=fsslower.min_ms, default=10,
                   help="minimum I/O duration to trace, in ms (default 10)")
    return p


def build(opts) -> Plan:
    text = CONFIG + fsslower.script(opts.pid, opts.min_ms * 1_000_000, None, False,
                                    not opts.all_files)
    first = []

    def line(v: dict) -> str:
        if not first:
            first.append(v["ts"])
        return (f"{(v['ts'] - first[0]) / 1e9:<8.3f} {v['comm'][:14]:<14} {v['tid']:<6} "
                f"{v['type']:1} {v['bytes']:<7} {v['lat_ns'] / 1e6:7.2f} {v['file']}\n")

    header = (f"Tracing sync read/writes slower than {opts.min_ms} ms\n"
              f"{'TIME(s)':<8} {'COMM':<14} {'TID':<6} D {'BYTES':<7} {'LAT(ms)':>7} FILENAME\n")
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header,
                records={"op": Record(fsslower.FIELDS, line)})
