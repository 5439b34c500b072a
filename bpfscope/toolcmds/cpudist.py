"""cpudist: how long tasks run on a CPU (or, with -O, wait off it) before switching, as a histogram.

bcc's cpudist: a log2 histogram of on-CPU (``-O``: off-CPU) times in
``usecs`` (``-m``: ``msecs``), one per process (``-P``) or thread (``-L``),
every ``interval`` seconds, ``count`` times. The hook is the
sched:sched_switch tracepoint: a task's time starts when it is switched
in (out) and ends when it is switched out (in). The idle task is left out
unless ``-I``: each CPU has one, all of pid 0, so their times are kept
under ``-1 - cpu``. ``-e`` adds bcc's ``avg = ..., total: ..., count: ...``
line of all the values after the histograms.
"""

from __future__ import annotations

from . import bccfmt
from .common import (CONFIG, Plan, ToolParser, add_interval_count, add_json, add_pid,
                     add_timestamp, every, report)

HOOKS = ("tracepoint:sched:sched_switch",)

EXAMPLES = """\
    bpfscope cpudist              # summarize on-CPU time as a histogram
    bpfscope cpudist -O           # summarize off-CPU time as a histogram
    bpfscope cpudist 1 10         # print 1 second summaries, 10 times
    bpfscope cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    bpfscope cpudist -P           # show each PID separately
    bpfscope cpudist -p 185       # trace PID 185 only
    bpfscope cpudist -I           # include CPU idle time
    bpfscope cpudist -e           # show extension summary (average/total/count)
"""


def parser() -> ToolParser:
    p = ToolParser("cpudist", "Summarize on- and off-CPU time per task as a histogram.",
                   EXAMPLES)
    p.add_argument("-O", "--offcpu", action="store_true", help="measure off-CPU time")
    add_timestamp(p)
    p.add_argument("-m", "--milliseconds", action="store_true", help="millisecond histogram")
    p.add_argument("-P", "--pids", action="store_true", help="print a histogram per process ID")
    p.add_argument("-L", "--tids", action="store_true", help="print a histogram per thread ID")
    add_pid(p)
    p.add_argument("-I", "--include-idle", action="store_true", help="include CPU idle time")
    p.add_argument("-e", "--extension", action="store_true",
                   help="show extension summary (average/total/count)")
    add_json(p)
    add_interval_count(p)
    return p


def _task(opts, tid: str) -> str:
    """The key a task's start time is kept under: its tid, or with -I,
    for an idle task (tid 0 on every CPU), -1 - the CPU."""
    if not opts.include_idle:
        return tid
    return f"({tid} == 0 ? -1 - (int64)cpu : (int64){tid})"


def build(opts) -> Plan:
    label, div = ("msecs", 1000000) if opts.milliseconds else ("usecs", 1000)
    flt = f" && pid == {opts.pid}" if opts.pid else ""
    prev, nxt = _task(opts, "args.prev_pid"), _task(opts, "args.next_pid")
    if opts.offcpu:
        key = ("[args.next_pid, args.next_comm]" if opts.tids else
               f"[@__tgid[{nxt}], args.next_comm]" if opts.pids else "")
        keep = "1" if opts.include_idle else "args.prev_pid != 0"
        body = (f"  if ({keep}{flt}) {{\n"
                f"    @__ts[{prev}] = nsecs; @__tgid[{prev}] = pid;\n  }}\n"
                f"  if (@__ts[{nxt}]) {{\n"
                f"    @{key} = hist((nsecs - @__ts[{nxt}]) / {div});\n"
                f"    delete(@__ts[{nxt}]); delete(@__tgid[{nxt}]);\n  }}\n")
    else:
        key = "[args.prev_pid, comm]" if opts.tids else "[pid, comm]" if opts.pids else ""
        keep = "" if opts.include_idle else "if (args.next_pid != 0) "
        body = (f"  if (@__ts[{prev}]{flt}) {{\n"
                f"    @{key} = hist((nsecs - @__ts[{prev}]) / {div});\n  }}\n"
                f"  delete(@__ts[{prev}]);\n"
                f"  {keep}{{ @__ts[{nxt}] = nsecs; }}\n")
    rep = report(opts)
    text = (CONFIG + "tracepoint:sched:sched_switch {\n" + body + "}\n" + every(opts, rep)
            + "END {\n  " + rep + "\n  clear(@__ts);"
            + (" clear(@__tgid);" if opts.offcpu else "") + "\n}\n")
    section = "tid" if opts.tids else "pid" if opts.pids else None

    def histograms(data) -> str:
        header = (lambda k: f"\n{section} = {k[0]} {k[1]}\n") if section else None
        text, count, total = bccfmt.hist_sections(data, label, header)
        return text + (bccfmt.avg_line(count, total, label) + "\n"
                       if opts.extension and count else "")

    what = "off" if opts.offcpu else "on"
    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=f"Tracing {what}-CPU time... Hit Ctrl-C to end.\n",
                formats={"@": histograms})
