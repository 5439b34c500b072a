"""biosnoop: block device I/O, one line per request with its task, disk, sector, size and latency.

With no options this is bpftrace's biosnoop (bpfscope/tools/biosnoop.bt,
its layout unchanged). With any of bcc's options it is bcc's biosnoop:
``TIME(s) COMM PID DISK T SECTOR BYTES [QUE(ms)] LAT(ms)``, TIME(s) since
the first request printed. A request is followed by device and sector:
block:block_io_start (when it is accounted, the task that made it),
block:block_rq_issue (handed to the driver: the end of its queued time,
``-Q``) and block:block_io_done (complete: the latency is from issue to
completion, as bcc's).
"""

from __future__ import annotations

import os

from . import TOOLS_DIR
from .biotop import disk_names
from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_flags, add_json, add_pid,
                     record)

HOOKS = ("tracepoint:block:block_io_start", "tracepoint:block:block_rq_issue",
         "tracepoint:block:block_io_done")

EXAMPLES = """\
    bpfscope biosnoop           # trace all block I/O (bpftrace's layout)
    bpfscope biosnoop -Q        # bcc's layout, with OS queued time
    bpfscope biosnoop -d sdc    # trace sdc only (bcc's layout)
    bpfscope biosnoop -p 181    # only I/O started by PID 181 (bcc's layout)
    bpfscope biosnoop -Q -c 'dd if=/dev/zero of=f bs=1M count=1 oflag=direct'
"""


def parser() -> ToolParser:
    p = ToolParser("biosnoop", "Trace block I/O", EXAMPLES)
    add_flags(p, ("-Q", "--queue", "include OS queued time"))
    p.add_argument("-d", "--disk", metavar="DISK", help="trace this disk only")
    add_pid(p, "trace I/O started by this PID only")
    p.add_argument("-c", "--cmd", metavar="CMD", help="run CMD and trace while it runs "
                   "(bpfscope's -c)")
    add_json(p)
    return p


def disk_dev(name: str, base: str = "/sys/class/block") -> int:
    """The kernel's dev_t (major << 20 | minor) of disk ``name``."""
    try:
        with open(os.path.join(base, name, "dev")) as f:
            major, minor = (int(x) for x in f.read().strip().split(":"))
    except (OSError, ValueError):
        raise ToolError(f"-d {name}: no such disk (see /sys/class/block)") from None
    return major << 20 | minor


def build(opts) -> Plan:
    if not (opts.queue or opts.disk or opts.pid):
        with open(os.path.join(TOOLS_DIR, "biosnoop.bt")) as f:
            return Plan(text=f.read(), json=opts.json, cmd=opts.cmd)
    conds = []
    if opts.disk:
        conds.append(f"args.dev == {disk_dev(opts.disk)}")
    start_conds = conds + ([f"pid == {opts.pid}"] if opts.pid else [])
    only = f" /{' && '.join(conds)}/" if conds else ""
    started = " && ".join(start_conds) if start_conds else ""
    text = (CONFIG
            + "tracepoint:block:block_io_start" + (f" /{started}/" if started else "") + " {\n"
            + "  $k = (args.dev, args.sector);\n"
            + "  @__queued[$k] = nsecs; @__pid[$k] = pid; @__comm[$k] = comm;\n}\n"
            + "tracepoint:block:block_rq_issue" + only + " {\n"
            + "  $k = (args.dev, args.sector);\n"
            + (" if (!has_key(@__queued, $k)) { return; }\n" if opts.pid else "")
            + "  @__issued[$k] = nsecs; @__bytes[$k] = args.bytes;\n"
            + "  @__w[$k] = strcontains(args.rwbs, \"W\") ? 1 : 0;\n}\n"
            + "tracepoint:block:block_io_done /has_key(@__issued, (args.dev, args.sector))/ {\n"
            + "  $k = (args.dev, args.sector);\n"
            + "  $q = has_key(@__queued, $k) ? @__queued[$k] : @__issued[$k];\n"
            + "  " + record("io", [("%llu", "nsecs"),
                                   ("%s", "has_key(@__comm, $k) ? @__comm[$k] : \"?\""),
                                   ("%d", "@__pid[$k]"), ("%u", "args.dev"),
                                   ("%c", "@__w[$k] ? 87 : 82"), ("%llu", "args.sector"),
                                   ("%u", "@__bytes[$k]"), ("%llu", "@__issued[$k] - $q"),
                                   ("%llu", "nsecs - @__issued[$k]")]) + "\n"
            + "  delete(@__queued[$k]); delete(@__pid[$k]); delete(@__comm[$k]);\n"
            + "  delete(@__issued[$k]); delete(@__bytes[$k]); delete(@__w[$k]);\n}\n")
    disks = disk_names()
    first = []

    def line(v: dict) -> str:
        if not first:
            first.append(v["ts"])
        dev = v["dev"]
        disk = disks.get((dev >> 20, dev & 0xFFFFF), f"{dev >> 20}:{dev & 0xFFFFF}")
        out = (f"{(v['ts'] - first[0]) / 1e9:<11.6f} {v['comm'][:14]:<14} {v['pid']:<6} "
               f"{disk:<7} {v['rw']:<1} {v['sector']:<10} {v['bytes']:<7} ")
        if opts.queue:
            out += f"{v['queued_ns'] / 1e6:7.2f} "
        return out + f"{v['lat_ns'] / 1e6:7.2f}\n"

    header = (f"{'TIME(s)':<11} {'COMM':<14} {'PID':<6} {'DISK':<7} {'T':<1} {'SECTOR':<10} "
              f"{'BYTES':<7} " + (f"{'QUE(ms)':>7} " if opts.queue else "") + f"{'LAT(ms)':>7}\n")
    return Plan(text=text, pid=opts.pid, json=opts.json, cmd=opts.cmd, banner=header,
                records={"io": Record(("ts#", "comm", "pid#", "dev#", "rw", "sector#", "bytes#",
                                       "queued_ns#", "lat_ns#"), line)})
