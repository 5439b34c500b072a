"""exitsnoop: trace process termination, with its age and exit code or signal.

bcc's exitsnoop: one line per process that ends (per thread with
``--per-thread``): ``PCOMM PID PPID TID AGE(s) EXIT_CODE``, the exit code
as ``0``, ``code N`` or ``signal N (NAME)``. The hook is the
sched:sched_process_exit tracepoint; the task's ``exit_code``,
``start_time`` and parent come from its task_struct (``curtask``, BTF).
"""

from __future__ import annotations

import signal
import time

from .common import CONFIG, Plan, Record, ToolParser, add_json, add_pid, record

HOOKS = ("tracepoint:sched:sched_process_exit",)

EXAMPLES = """\
    bpfscope exitsnoop                # trace all process termination
    bpfscope exitsnoop -x             # trace only fails, exclude exit(0)
    bpfscope exitsnoop -t             # include timestamps (local time)
    bpfscope exitsnoop --utc          # include timestamps (UTC)
    bpfscope exitsnoop -p 181         # only trace PID 181
    bpfscope exitsnoop --label=exit   # label each output line with 'exit'
    bpfscope exitsnoop --per-thread   # trace per thread termination
"""


def parser() -> ToolParser:
    p = ToolParser("exitsnoop", "Trace all process termination (exit, fatal signal)", EXAMPLES)
    p.add_argument("-t", "--timestamp", action="store_true",
                   help="include timestamp (local time default)")
    p.add_argument("--utc", action="store_true", help="include timestamp in UTC (-t implied)")
    p.add_argument("-x", "--failed", action="store_true", help="trace only fails, exclude exit(0)")
    add_pid(p)
    p.add_argument("--label", help="label each line")
    p.add_argument("--per-thread", action="store_true", help="trace per thread termination")
    add_json(p)
    return p


def signame(n: int) -> str:
    try:
        return signal.Signals(n).name[3:]
    except ValueError:
        return str(n)


def exit_text(code: int) -> str:
    """bcc's EXIT_CODE column from the task's exit_code (status << 8 | signal)."""
    sig = code & 0x7F
    if not code & 0xFF:
        return "0" if not code >> 8 else f"code {code >> 8}"
    out = f"signal {sig} ({signame(sig)})" if sig else ""
    if code & 0x80:
        out += ", core dumped "
    return out


def build(opts) -> Plan:
    stamp = opts.timestamp or opts.utc
    conds = []
    if opts.pid:
        conds.append(f"pid == {opts.pid}")
    if not opts.per_thread:
        conds.append("pid == tid")
    pred = f" /{' && '.join(conds)}/" if conds else ""
    text = (CONFIG + "tracepoint:sched:sched_process_exit" + pred + " {\n  $t = curtask;\n"
            + ("  if ($t->exit_code == 0) { return; }\n" if opts.failed else "")
            + "  " + record("exit", [("%s", "comm"), ("%d", "pid"),
                                      ("%d", "$t->real_parent->tgid"), ("%d", "tid"),
                                      ("%llu", "nsecs - $t->start_time"),
                                      ("%d", "$t->exit_code")]) + "\n}\n")

    def line(v: dict) -> str:
        head = ""
        if stamp:
            now = time.time()
            t = time.gmtime(now) if opts.utc else time.localtime(now)
            head = f"{time.strftime('%H:%M:%S', t)}.{int(now * 1000) % 1000:03d}"
            head = f"{head:<13}"
        if opts.label:
            head += f"{opts.label:<6}"
        return (f"{head}{v['comm']:<16} {v['pid']:<7} {v['ppid']:<7} {v['tid']:<7} "
                f"{v['age_ns'] / 1e9:<7.2f} {exit_text(v['exit_code'])}\n")

    header = ""
    if stamp:
        header += f"{'TIME(' + ('UTC' if opts.utc else time.strftime('%Z')) + ')':<13}"
    if opts.label:
        header += f"{'LABEL':<6}"
    header += f"{'PCOMM':<16} {'PID':<7} {'PPID':<7} {'TID':<7} {'AGE(s)':<7} EXIT_CODE\n"
    # -p: the trace ends once the process has (its own exit is read first)
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header,
                records={"exit": Record(("comm", "pid#", "ppid#", "tid#", "age_ns#",
                                         "exit_code#"), line)})
