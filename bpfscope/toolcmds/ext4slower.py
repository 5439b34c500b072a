"""ext4slower: ext4 reads, writes, opens and fsyncs slower than a threshold, one line each.

bcc's ext4slower: ``TIME COMM PID T BYTES OFF_KB LAT(ms) FILENAME`` for
each operation on an ext4 file (ext2 and ext3 too, when the ext4 driver
mounts them) that took ``min_ms`` (10 by default) or more, ``-j``: CSV
fields instead. bcc times ext4's functions with kprobes; here the system
calls are timed (bpfscope/toolcmds/fsslower.py says how).
"""

from __future__ import annotations

from . import fsslower
from .common import CONFIG, Plan, Record, ToolError, ToolParser, add_pid

FS, MAGIC = "ext4", 0xEF53
HOOKS = fsslower.hooks(True)


def examples(tool: str) -> str:
    return f"""\
    bpfscope {tool}             # trace operations slower than 10 ms (default)
    bpfscope {tool} 1           # trace operations slower than 1 ms
    bpfscope {tool} -j 1        # ... 1 ms, parsable output (csv)
    bpfscope {tool} 0           # trace all operations (warning: verbose)
    bpfscope {tool} -p 185      # trace PID 185 only
"""


def fs_parser(tool: str, fs: str) -> ToolParser:
    p = ToolParser(tool, f"Trace common {fs} file operations slower than a threshold",
                   examples(tool))
    p.add_argument("-j", "--csv", action="store_true",
                   help="just print fields: comma-separated values")
    add_pid(p)
    p.add_argument("--json", action="store_true", help="print bpfscope's JSON output")
    p.add_argument("min_ms", nargs="?", type=fsslower.min_ms, default=10,
                   help="minimum I/O duration to trace, in ms (default 10)")
    return p


def parser() -> ToolParser:
    return fs_parser("ext4slower", FS)


def known_filesystem(fs: str, path: str = "/proc/filesystems") -> bool:
    try:
        with open(path) as f:
            return any(line.split()[-1:] == [fs] for line in f)
    except OSError:
        return False


def fs_build(opts, fs: str, magic: int) -> Plan:
    if not known_filesystem(fs):
        raise ToolError(f"this kernel has no {fs} filesystem (/proc/filesystems: "
                        f"the {fs} module is not loaded)")
    text = CONFIG + fsslower.script(opts.pid, opts.min_ms * 1_000_000, magic, True, False)

    def line(v: dict) -> str:
        import time
        if opts.csv:
            return (f"{v['ts'] // 1000},{v['comm']},{v['pid']},{v['type']},{v['bytes']},"
                    f"{v['offset']},{v['lat_ns'] // 1000},{v['file']}\n")
        return (f"{time.strftime('%H:%M:%S'):<8} {v['comm'][:14]:<14} {v['pid']:<7} "
                f"{v['type']:1} {v['bytes']:<7} {v['offset'] // 1024:<8} "
                f"{v['lat_ns'] / 1e6:7.2f} {v['file']}\n")

    if opts.csv:
        header = "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE\n"
    else:
        header = (f"Tracing {fs} operations"
                  + (f" slower than {opts.min_ms} ms" if opts.min_ms else "") + "\n"
                  + f"{'TIME':<8} {'COMM':<14} {'PID':<7} T {'BYTES':<7} {'OFF_KB':<8} "
                    f"{'LAT(ms)':>7} FILENAME\n")
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header,
                records={"op": Record(fsslower.FIELDS, line)})


def build(opts) -> Plan:
    return fs_build(opts, FS, MAGIC)
