"""biotop: block device I/O by process, top-like: I/Os, Kbytes and average latency each interval.

bcc's biotop: every ``interval`` seconds (1 by default) the time and load
average, then ``PID COMM D MAJ MIN DISK I/O Kbytes AVGms`` rows, the most
bytes first, at most ``-r`` of them; the screen is cleared first unless
``-C``. A request is followed by device and sector from
block:block_io_start (whose task, direction and size it keeps) to
block:block_io_done, where its I/O, bytes and latency are added up.
"""

from __future__ import annotations

import os
import time

from .common import (CONFIG, Plan, Record, ToolParser, add_flags, add_interval_count, add_json,
                     add_pid, every, joined, positive_int, record)

HOOKS = ("tracepoint:block:block_io_start", "tracepoint:block:block_io_done")

EXAMPLES = """\
    bpfscope biotop            # block device I/O top, 1 second refresh
    bpfscope biotop -C         # don't clear the screen
    bpfscope biotop -p 181     # only trace PID 181
    bpfscope biotop 5          # 5 second summaries
    bpfscope biotop 5 10       # 5 second summaries, 10 times only
"""

CLEAR = "\x1b[H\x1b[2J"


def parser() -> ToolParser:
    p = ToolParser("biotop", "Block device (disk) I/O by process", EXAMPLES)
    add_flags(p, ("-C", "--noclear", "don't clear the screen"))
    p.add_argument("-r", "--maxrows", type=positive_int, default=20, metavar="MAXROWS",
                   help="maximum rows to print, default 20")
    add_pid(p)
    add_json(p)
    add_interval_count(p)
    return p


def disk_names() -> dict[tuple[int, int], str]:
    """(major, minor) -> the block device's name, from /sys/dev/block."""
    out = {}
    base = "/sys/dev/block"
    try:
        entries = os.listdir(base)
    except OSError:
        return out
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "uevent")) as f:
                name = next((l.split("=", 1)[1].strip() for l in f if l.startswith("DEVNAME=")),
                            None)
        except OSError:
            continue
        major, _, minor = entry.partition(":")
        if name and major.isdigit() and minor.isdigit():
            out[(int(major), int(minor))] = name
    return out


def loadavg_line() -> str:
    """bcc's top tools' first line: the time and /proc/loadavg."""
    try:
        with open("/proc/loadavg") as f:
            load = f.read()
    except OSError:
        load = "?\n"
    return f"{time.strftime('%H:%M:%S'):<8} loadavg: {load}"


def build(opts) -> Plan:
    if opts.interval is None:
        opts.interval = 1
    who = f" /pid == {opts.pid}/" if opts.pid else ""
    key = "@__pid[$k], @__comm[$k], @__w[$k], args.dev >> 20, args.dev & 0xfffff"
    text = (CONFIG
            + f"tracepoint:block:block_io_start{who} {{\n"
            + "  $k = (args.dev, args.sector);\n"
            + "  @__start[$k] = nsecs; @__pid[$k] = pid; @__comm[$k] = comm;\n"
            # bcc's "write": the op has REQ_OP_WRITE's bit (writes and discards)
            + "  @__w[$k] = strcontains(args.rwbs, \"W\") || strcontains(args.rwbs, \"D\") ? 1 : 0;"
            + " @__bytes[$k] = args.nr_sector * 512;\n}\n"
            + "tracepoint:block:block_io_done {\n  $k = (args.dev, args.sector);\n"
            + "  if (@__start[$k]) {\n"
            + f"    @io[{key}] = count();\n    @bytes[{key}] = sum(@__bytes[$k]);\n"
            + f"    @us[{key}] = sum((nsecs - @__start[$k]) / 1000);\n"
            + "    delete(@__start[$k]); delete(@__pid[$k]); delete(@__comm[$k]);"
            + " delete(@__w[$k]); delete(@__bytes[$k]);\n  }\n}\n")
    rep = ("" if opts.json else record("top", [])) + \
        " print(@io); print(@bytes); print(@us); clear(@io); clear(@bytes); clear(@us);"
    text += every(opts, rep) + "END {\n " + rep + "\n}\n"
    disks = disk_names()

    def rows(io: dict, nbytes: dict, us: dict) -> str:
        out = []
        for k in sorted(io, key=lambda k: nbytes.get(k, 0), reverse=True)[:opts.maxrows]:
            pid, comm, w, major, minor = k
            avg = us.get(k, 0) / 1000 / io[k]
            out.append(f"{pid:<7} {comm:<16} {'W' if w else 'R'} {major:<3} {minor:<3} "
                       f"{disks.get((major, minor), '?'):<8} {io[k]:>5} "
                       f"{nbytes.get(k, 0) // 1024:>7} {avg:6.2f}\n")
        return "".join(out)

    def top(_: dict) -> str:
        return ("\n" if opts.noclear else CLEAR) + loadavg_line() + "\n" + \
            f"{'PID':<7} {'COMM':<16} D {'MAJ':<3} {'MIN':<3} {'DISK':<8} {'I/O':>5} " \
            f"{'Kbytes':>7} {'AVGms':>6}\n"

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner="Tracing... Output every %d secs. Hit Ctrl-C to end\n" % opts.interval,
                formats=joined(["@io", "@bytes", "@us"], rows),
                records={"top": Record((), top)})
