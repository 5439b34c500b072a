"""hardirqs: time spent in hard interrupt handlers (or their count), by handler name.

bcc's hardirqs: ``HARDIRQ TOTAL_usecs`` per handler name (``-C``:
``TOTAL_count``), or with ``-d`` one log2 histogram each, every
``interval`` seconds, ``outputs`` times. The hooks are the
irq:irq_handler_entry and irq:irq_handler_exit tracepoints; the entry's
handler name and time are kept per CPU until the exit.
"""

from __future__ import annotations

from . import bccfmt
from .common import (CONFIG, Plan, ToolParser, add_interval_count, add_json, add_timestamp,
                     every, printf, report)

HOOKS = ("tracepoint:irq:irq_handler_entry", "tracepoint:irq:irq_handler_exit")

EXAMPLES = """\
    bpfscope hardirqs            # sum hard irq event time
    bpfscope hardirqs -d         # show hard irq event time as histograms
    bpfscope hardirqs 1 10       # print 1 second summaries, 10 times
    bpfscope hardirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    bpfscope hardirqs -C         # count hard irqs instead of timing them
    bpfscope hardirqs -c 1       # sum hard irq event time on CPU 1 only
"""


def parser() -> ToolParser:
    p = ToolParser("hardirqs", "Summarize hard irq event time as histograms", EXAMPLES)
    add_timestamp(p)
    p.add_argument("-N", "--nanoseconds", action="store_true", help="output in nanoseconds")
    how = p.add_mutually_exclusive_group()
    how.add_argument("-C", "--count", action="store_true",
                     help="show event counts instead of timing")
    how.add_argument("-d", "--dist", action="store_true", help="show distributions as histograms")
    p.add_argument("-c", "--cpu", type=int, metavar="CPU", help="trace this CPU only")
    add_json(p)
    add_interval_count(p, "outputs")
    return p


def build(opts) -> Plan:
    label, div = ("nsecs", 1) if opts.nanoseconds else ("usecs", 1000)
    if opts.count:
        label = "count"
    pred = f" /cpu == {opts.cpu}/" if opts.cpu is not None else ""
    if opts.count:
        probes = f"tracepoint:irq:irq_handler_entry{pred} {{\n  @[str(args.name)] = count();\n}}\n"
    else:
        delta = "(nsecs - @__start[cpu])" + (f" / {div}" if opts.dist and div > 1 else "")
        agg = f"hist({delta})" if opts.dist else f"sum({delta})"
        probes = (f"tracepoint:irq:irq_handler_entry{pred} {{\n"
                  "  @__start[cpu] = nsecs;\n  @__name[cpu] = str(args.name);\n}\n"
                  "tracepoint:irq:irq_handler_exit /@__start[cpu]/ {\n"
                  f"  @[@__name[cpu]] = {agg};\n  delete(@__start[cpu]);\n}}\n")
    rep = report(opts, "" if opts.dist else printf(f"{'HARDIRQ':<26} {'TOTAL_' + label:>11}\n"))
    text = (CONFIG + probes + every(opts, rep, "outputs") + "END {\n  " + rep
            + ("" if opts.count else "\n  clear(@__start); clear(@__name);") + "\n}\n")
    scale = 1 if opts.count else div

    def table(data) -> str:
        if opts.dist:
            return "".join(f"\nhardirq = {k[0]}\n" + bccfmt.log2_hist(b, label)
                           for k, b in sorted(data.entries))
        return "".join(f"{k[0]:<26} {v // scale:>11}\n" for k, v in bccfmt.by_count(data))

    what = "events" if opts.count else "event time"
    return Plan(text=text, json=opts.json,
                banner=f"Tracing hard irq {what}... Hit Ctrl-C to end.\n",
                formats={"@": table})
