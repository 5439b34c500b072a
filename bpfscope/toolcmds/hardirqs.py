"""hardirqs: time spent in hard interrupt handlers (or their count), by handler name.

bcc's hardirqs: ``HARDIRQ TOTAL_usecs`` per handler name (``-C``:
``TOTAL_count``), or with ``-d`` one log2 histogram each, every
``interval`` seconds, ``outputs`` times. The hooks are the
irq:irq_handler_entry and irq:irq_handler_exit tracepoints; the entry's
handler name is kept per CPU with its time until the exit (irqtime.py).
"""

from __future__ import annotations

from . import irqtime
from .common import Plan, ToolParser

HOOKS = ("tracepoint:irq:irq_handler_entry", "tracepoint:irq:irq_handler_exit")

EXAMPLES = """\
    bpfscope hardirqs            # sum hard irq event time
    bpfscope hardirqs -d         # show hard irq event time as histograms
    bpfscope hardirqs 1 10       # print 1 second summaries, 10 times
    bpfscope hardirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    bpfscope hardirqs -C         # count hard irqs instead of timing them
    bpfscope hardirqs -c 1       # sum hard irq event time on CPU 1 only
"""


def _options(p) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument("-C", "--count", action="store_true",
                     help="show event counts instead of timing")
    how.add_argument("-d", "--dist", action="store_true", help="show distributions as histograms")


def parser() -> ToolParser:
    return irqtime.parser("hardirqs", "Summarize hard irq event time as histograms",
                          EXAMPLES, _options, "outputs")


def build(opts) -> Plan:
    label, div = irqtime.unit(opts)
    entry = "tracepoint:irq:irq_handler_entry"
    if opts.count:
        label, div = "count", 1
        probes = f"{entry}{irqtime.cpu_filter(opts)} {{\n  @[str(args.name)] = count();\n}}\n"
        end = ""
    else:
        probes = irqtime.timed(opts, entry, "tracepoint:irq:irq_handler_exit", "@__name[cpu]",
                               stash="\n  @__name[cpu] = str(args.name);")
        end = "\n  clear(@__start); clear(@__name);"
    text = irqtime.script(opts, probes, "HARDIRQ", 26, label, "outputs", end)
    what = "events" if opts.count else "event time"
    return Plan(text=text, json=opts.json,
                banner=f"Tracing hard irq {what}... Hit Ctrl-C to end.\n",
                formats={"@": lambda data: irqtime.table(opts, data, "hardirq", str, 26,
                                                         label, div)})
