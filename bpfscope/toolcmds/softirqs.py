"""softirqs: time spent in soft interrupts, by softirq kind, as totals or histograms.

bcc's softirqs: ``SOFTIRQ TOTAL_usecs`` per softirq vector (hi, timer,
net_rx, ...), or with ``-d`` one log2 histogram each, every ``interval``
seconds, ``count`` times. The hooks are the irq:softirq_entry and
irq:softirq_exit tracepoints (softirqs do not nest on a CPU, so the start
time is kept per CPU).
"""

from __future__ import annotations

from . import bccfmt
from .common import (CONFIG, Plan, ToolParser, add_interval_count, add_json, add_timestamp,
                     every, printf, report)

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


def parser() -> ToolParser:
    p = ToolParser("softirqs", "Summarize soft irq event time as histograms.", EXAMPLES)
    add_timestamp(p)
    p.add_argument("-N", "--nanoseconds", action="store_true", help="output in nanoseconds")
    p.add_argument("-d", "--dist", action="store_true", help="show distributions as histograms")
    p.add_argument("-c", "--cpu", type=int, metavar="CPU", help="trace this CPU only")
    add_json(p)
    add_interval_count(p)
    return p


def vector(v: int) -> str:
    return VECTORS[v] if 0 <= v < len(VECTORS) else str(v)


def build(opts) -> Plan:
    label, div = ("nsecs", 1) if opts.nanoseconds else ("usecs", 1000)
    pred = f" /cpu == {opts.cpu}/" if opts.cpu is not None else ""
    delta = "(nsecs - @__start[cpu])" + (f" / {div}" if opts.dist and div > 1 else "")
    agg = f"hist({delta})" if opts.dist else f"sum({delta})"
    rep = report(opts, "" if opts.dist else printf(f"{'SOFTIRQ':<16} {'TOTAL_' + label:>11}\n"))
    text = (CONFIG + "tracepoint:irq:softirq_entry" + pred + " {\n  @__start[cpu] = nsecs;\n}\n"
            + "tracepoint:irq:softirq_exit /@__start[cpu]/ {\n"
            + f"  @[args.vec] = {agg};\n  delete(@__start[cpu]);\n}}\n"
            + every(opts, rep) + "END {\n  " + rep + "\n  clear(@__start);\n}\n")

    def table(data) -> str:
        if opts.dist:
            return "".join(f"\nsoftirq = {vector(k[0])}\n" + bccfmt.log2_hist(b, label)
                           for k, b in sorted(data.entries))
        return "".join(f"{vector(k[0]):<16} {v // div:>11}\n" for k, v in bccfmt.by_count(data))

    return Plan(text=text, json=opts.json,
                banner="Tracing soft irq event time... Hit Ctrl-C to end.\n",
                formats={"@": table})
