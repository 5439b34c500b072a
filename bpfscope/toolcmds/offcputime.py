"""offcputime: time threads spent off CPU (blocked), summed by kernel and user stack.

Without options this is bpfscope/tools/offcputime.bt, as before (its
stacks printed as bpftrace prints a map; ``bpfscope offcputime.bt PID``
still takes its PID). With any of bcc's options it is bcc's offcputime:
``-p``/``-t``/``-u``/``-k`` choose the threads, ``-U``/``-K`` the stacks,
``-m``/``-M`` the blocks kept (microseconds), ``--state`` the state the
thread left the CPU in, a duration ends the trace; each stack is printed
with ``-  comm (tid)`` and its microseconds, the smallest first, or ``-f``
folded lines for flame graphs. A thread's block starts when
sched:sched_switch switches it out (its stacks are taken then) and ends
when a sched_switch switches it in again.
"""

from __future__ import annotations

import os

from . import TOOLS_DIR, bccfmt
from .common import (CONFIG, Plan, ToolParser, add_flags, add_json, add_stack_only,
                     positive_int, printf)

HOOKS = ("tracepoint:sched:sched_switch",)

EXAMPLES = """\
    bpfscope offcputime             # trace off-CPU stack time until Ctrl-C
    bpfscope offcputime 5           # trace for 5 seconds only
    bpfscope offcputime -f 5        # 5 seconds, and output in folded format
    bpfscope offcputime -m 1000     # trace only events that last more than 1000 usec
    bpfscope offcputime -M 10000    # trace only events that last less than 10000 usec
    bpfscope offcputime -p 185      # only trace threads for PID 185
    bpfscope offcputime -t 188      # only trace thread 188
    bpfscope offcputime -u          # only trace user threads (no kernel)
    bpfscope offcputime -k          # only trace kernel threads (no user)
    bpfscope offcputime -U          # only show user space stacks (no kernel)
    bpfscope offcputime -K          # only show kernel space stacks (no user)
    bpfscope offcputime --state 2   # only threads that blocked uninterruptibly
"""

PF_KTHREAD = 0x00200000


def nonnegative_int(text: str) -> int:
    return 0 if text.strip() in ("0", "0x0") else positive_int(text)


def parser() -> ToolParser:
    p = ToolParser("offcputime", "Summarize off-CPU time by stack trace", EXAMPLES)
    who = p.add_mutually_exclusive_group()
    who.add_argument("-p", "--pid", type=positive_int, metavar="PID",
                     help="trace this PID only")
    who.add_argument("-t", "--tid", type=positive_int, metavar="TID",
                     help="trace this TID only")
    who.add_argument("-u", "--user-threads-only", action="store_true",
                     help="user threads only (no kernel threads)")
    who.add_argument("-k", "--kernel-threads-only", action="store_true",
                     help="kernel threads only (no user threads)")
    add_stack_only(p)
    add_flags(p, ("-d", "--delimited", "insert delimiter between kernel/user stacks"),
              ("-f", "--folded", "output folded format"))
    p.add_argument("--stack-storage-size", type=positive_int, default=16384, metavar="SIZE",
                   help="the number of unique stack traces that can be stored and displayed "
                        "(default 16384)")
    p.add_argument("-m", "--min-block-time", type=positive_int, default=1, metavar="MIN",
                   help="the amount of time in microseconds over which we store traces "
                        "(default 1)")
    p.add_argument("-M", "--max-block-time", type=positive_int, metavar="MAX",
                   help="the amount of time in microseconds under which we store traces "
                        "(default U64_MAX)")
    p.add_argument("--state", type=nonnegative_int, metavar="STATE",
                   help="filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE), "
                        "0 for a thread switched out while running")
    add_json(p)
    p.add_argument("duration", nargs="?", type=positive_int,
                   help="duration of trace, in seconds")
    return p


def _bcc_options(opts) -> bool:
    return any((opts.pid, opts.tid, opts.user_threads_only, opts.kernel_threads_only,
                opts.user_stacks_only, opts.kernel_stacks_only, opts.delimited, opts.folded,
                opts.stack_storage_size != 16384, opts.min_block_time != 1,
                opts.max_block_time, opts.state is not None, opts.duration))


def build(opts) -> Plan:
    if not _bcc_options(opts):
        with open(os.path.join(TOOLS_DIR, "offcputime.bt")) as f:
            return Plan(text=f.read(), json=opts.json)
    # the thread leaving the CPU is the current one (pid, curtask)
    conds = ["args.prev_pid != 0"] + [cond for on, cond in (
        (opts.pid, f"pid == {opts.pid}"),
        (opts.tid, f"args.prev_pid == {opts.tid}"),
        (opts.user_threads_only, f"(curtask->flags & {PF_KTHREAD:#x}) == 0"),
        (opts.kernel_threads_only, f"(curtask->flags & {PF_KTHREAD:#x}) != 0"),
        (opts.state == 0, "args.prev_state == 0"),
        (opts.state, f"(args.prev_state & {opts.state}) != 0")) if on]
    kernel, user = not opts.user_stacks_only, not opts.kernel_stacks_only
    keep = ["nsecs"] + (["kstack"] if kernel else []) + (["ustack"] if user else []) + ["comm"]
    names = ["__start"] + (["__kst"] if kernel else []) + (["__ust"] if user else []) + \
        ["__name"]
    limit = f"$us >= {opts.min_block_time}"
    if opts.max_block_time:
        limit += f" && $us <= {opts.max_block_time}"
    at = "[args.next_pid]"
    key = ", ".join([f"@{n}{at}" for n in names[1:]] + ["args.next_pid"])
    config = CONFIG.replace(" }", f"; max_map_keys = {max(opts.stack_storage_size, 16384)} }}")
    report = "print(@); clear(@);"
    if not opts.json and not opts.folded:
        report = printf("\n") + report
    text = (config
            + "tracepoint:sched:sched_switch {\n"
            + f"  if ({' && '.join(conds)}) {{\n"
            + "".join(f"    @{n}[args.prev_pid] = {v};\n" for n, v in zip(names, keep))
            + "  }\n"
            + "  if (has_key(@__start, args.next_pid)) {\n"
            + f"    $us = (nsecs - @__start{at}) / 1000;\n"
            + f"    if ({limit}) {{ @[{key}] = sum($us); }}\n"
            + "".join(f"    delete(@{n}{at});\n" for n in names)
            + "  }\n}\n"
            + (f"interval:s:{opts.duration} {{ exit(); }}\n" if opts.duration else "")
            + "END {\n  " + report + " "
            + " ".join(f"clear(@{n});" for n in names) + "\n}\n")
    delimit = opts.delimited and kernel and user
    fields = (["kstack"] if kernel else []) + (["ustack"] if user else []) + ["comm", "tid"]

    def stacks(data) -> str:
        out = []
        for k, us in bccfmt.by_count(data):
            parts = dict(zip(fields, k))
            kf = bccfmt.frames(parts["kstack"]) if kernel else []
            uf = bccfmt.frames(parts["ustack"]) if user else []
            out.append(bccfmt.stack_entry(kf, uf, delimit, parts["comm"], parts["tid"], us,
                                          opts.folded))
        return "".join(out)

    banner = None
    if not opts.folded:
        who = (f"PID {opts.pid}" if opts.pid else f"TID {opts.tid}" if opts.tid else
               "user threads" if opts.user_threads_only else
               "kernel threads" if opts.kernel_threads_only else "all threads")
        which = "user" if not kernel else "kernel" if not user else "user + kernel"
        banner = (f"Tracing off-CPU time (us) of {who} by {which} stack"
                  + (f" for {opts.duration} secs.\n" if opts.duration else
                     "... Hit Ctrl-C to end.\n"))
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=banner, formats={"@": stacks})
