"""softirqs: time spent in soft interrupts, by softirq kind, as totals or histograms.

bcc's softirqs: ``SOFTIRQ TOTAL_usecs`` per softirq vector (hi, timer,
net_rx, ...), or with ``-d`` one log2 histogram each, every ``interval``
seconds, ``count`` times. The hooks are the irq:softirq_entry and
irq:softirq_exit tracepoints (irqtime.py).
"""

from __future__ import annotations

from . import irqtime
from .common import Plan, ToolParser

HOOKS = ("tracepoint:irq:softirq_entry", "tracepoint:irq:softirq_exit")

EXAMPLES = """\
    bpfscope softirqs            # sum soft irq event time
    bpfscope softirqs -d         # show soft irq event time as histograms
    bpfscope softirqs 1 10       # print 1 second summaries, 10 times
    bpfscope softirqs -NT 1      # 1s summaries, nanoseconds, and timestamps
    bpfscope softirqs -c 1       # sum soft irq event time on CPU 1 only
"""

VECTORS = ["hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched",
           "hrtimer", "rcu"]


def _options(p) -> None:
    p.add_argument("-d", "--dist", action="store_true", help="show distributions as histograms")


def parser() -> ToolParser:
    return irqtime.parser("softirqs", "Summarize soft irq event time as histograms.",
                          EXAMPLES, _options)


def vector(v: int) -> str:
    return VECTORS[v] if 0 <= v < len(VECTORS) else str(v)


def build(opts) -> Plan:
    label, div = irqtime.unit(opts)
    probes = irqtime.timed(opts, "tracepoint:irq:softirq_entry", "tracepoint:irq:softirq_exit",
                           "args.vec")
    text = irqtime.script(opts, probes, "SOFTIRQ", 16, label, end="\n  clear(@__start);")
    return Plan(text=text, json=opts.json,
                banner="Tracing soft irq event time... Hit Ctrl-C to end.\n",
                formats={"@": lambda data: irqtime.table(opts, data, "softirq", vector, 16,
                                                         label, div)})
