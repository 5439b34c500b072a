"""wakeuptime: time threads slept, summed by the kernel stack and name of the thread that woke them.

bcc's wakeuptime: for each (target, waker stack, waker) the microseconds
the target was blocked before that waker woke it, smallest first, or
``-f`` folded lines (``waker;frames;target N``). A thread's block starts
when sched:sched_switch switches it out and ends at sched:sched_wakeup,
which runs in the waker: its ``comm`` and ``kstack`` are the waker's.
"""

from __future__ import annotations

from . import bccfmt
from .common import (CONFIG, Plan, ToolParser, add_flags, add_json, add_pid, positive_int,
                     printf)

HOOKS = ("tracepoint:sched:sched_switch", "tracepoint:sched:sched_wakeup")

EXAMPLES = """\
    bpfscope wakeuptime             # trace blocked time with waker stacks
    bpfscope wakeuptime 5           # trace for 5 seconds only
    bpfscope wakeuptime -f 5        # 5 seconds, and output in folded format
    bpfscope wakeuptime -u          # don't include kernel threads (user only)
    bpfscope wakeuptime -p 185      # trace for PID 185 only
    bpfscope wakeuptime -m 1000     # only blocks of at least 1000 us
"""


def parser() -> ToolParser:
    p = ToolParser("wakeuptime", "Summarize sleep to wakeup time by waker kernel stack",
                   EXAMPLES)
    add_pid(p, "trace this PID only")
    add_flags(p, ("-u", "--useronly", "user threads only (no kernel threads)"),
              ("-f", "--folded", "output folded format"))
    p.add_argument("-m", "--min-block-time", type=positive_int, default=1, metavar="MIN",
                   help="the amount of time in microseconds over which we store traces "
                        "(default 1)")
    p.add_argument("-M", "--max-block-time", type=positive_int, metavar="MAX",
                   help="the amount of time in microseconds under which we store traces")
    add_json(p)
    p.add_argument("duration", nargs="?", type=positive_int,
                   help="duration of trace, in seconds")
    return p


def build(opts) -> Plan:
    conds = ["args.prev_pid != 0"]
    if opts.pid:
        conds.append(f"pid == {opts.pid}")
    if opts.useronly:
        conds.append("(curtask->flags & 0x00200000) == 0")   # PF_KTHREAD: not a kernel thread
    limit = f"$us >= {opts.min_block_time}"
    if opts.max_block_time:
        limit += f" && $us <= {opts.max_block_time}"
    text = (CONFIG
            + f"tracepoint:sched:sched_switch /{' && '.join(conds)}/ {{\n"
            + "  @__start[args.prev_pid] = nsecs;\n}\n"
            + "tracepoint:sched:sched_wakeup /@__start[args.pid]/ {\n"
            + "  $us = (nsecs - @__start[args.pid]) / 1000;\n"
            + "  delete(@__start[args.pid]);\n"
            + f"  if ({limit}) {{ @[args.comm, kstack, comm] = sum($us); }}\n}}\n"
            + (f"interval:s:{opts.duration} {{ exit(); }}\n" if opts.duration else "")
            + "END {\n  " + ("" if opts.json or opts.folded else printf("\n"))
            + "print(@); clear(@); clear(@__start);\n}\n")

    def stacks(data) -> str:
        out = []
        for (target, stack, waker), us in bccfmt.by_count(data):
            names = bccfmt.frames(stack)
            if opts.folded:
                out.append(f"{';'.join([waker, *names[::-1], target])} {us}\n")
                continue
            out.append(f"    {'target:':<16} {target}\n")
            out += [f"    {a:<16x} {f}\n" for a, f in zip(stack.addrs, names)]
            out.append(f"    {'waker:':<16} {waker}\n        {us}\n\n")
        return "".join(out)

    banner = None if opts.folded else (
        "Tracing blocked time (us) by kernel stack"
        + (f" for {opts.duration} secs.\n" if opts.duration else "... Hit Ctrl-C to end.\n"))
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=banner, formats={"@": stacks})
