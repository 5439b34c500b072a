"""profile: sample stack traces on every CPU at a timed interval, and count them.

bcc's profile: ``-F`` samples a second (49 by default) or one sample every
``-c`` cpu-clock events, of every process or ``-p``/``-L`` ones, user and
kernel stacks (``-U``/``-K`` one of them), the idle task left out unless
``-I``; printed when the duration ends or on Ctrl-C, each stack then
``-  comm (pid)`` and its count, or ``-f`` folded lines for flame graphs.
"""

from __future__ import annotations

import argparse

from . import bccfmt
from .common import (CONFIG, Plan, ToolParser, add_either, add_flags, add_json, add_stack_only,
                     positive_int, printf)

HOOKS = ("profile:hz:49",)

EXAMPLES = """\
    bpfscope profile               # profile stack traces at 49 Hertz until Ctrl-C
    bpfscope profile -F 99         # profile stack traces at 99 Hertz
    bpfscope profile -c 1000000    # profile stack traces every 1 in a million events
    bpfscope profile 5             # profile at 49 Hertz for 5 seconds only
    bpfscope profile -f 5          # output in folded format for flame graphs
    bpfscope profile -p 185        # only profile process with PID 185
    bpfscope profile -L 185        # only profile thread with TID 185
    bpfscope profile -U            # only show user space stacks (no kernel)
    bpfscope profile -K            # only show kernel space stacks (no user)
    bpfscope profile -C 2          # only profile CPU 2
"""


def id_list(text: str) -> list[int]:
    """'12,34' -> [12, 34] (bcc's comma separated PIDs and TIDs)."""
    try:
        ids = [positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"'{text}': {e}") from None
    return ids


def parser() -> ToolParser:
    p = ToolParser("profile", "Profile CPU stack traces at a timed interval", EXAMPLES)
    add_either(p,
               ("-p", "--pid", "PID", "profile process with one or more comma separated PIDs only"),
               ("-L", "--tid", "TID", "profile thread with one or more comma separated TIDs only"),
               type=id_list)
    add_stack_only(p)
    add_either(p, ("-F", "--frequency", "FREQUENCY", "sample frequency, Hertz"),
               ("-c", "--count", "COUNT", "sample period, number of events"))
    add_flags(p, ("-d", "--delimited", "insert delimiter between kernel/user stacks"),
              ("-a", "--annotations", "add _[k] annotations to kernel frames"),
              ("-I", "--include-idle", "include CPU idle stacks"),
              ("-f", "--folded", "output folded format, one line per stack (for flame graphs)"))
    p.add_argument("-C", "--cpu", type=int, metavar="CPU", help="cpu number to run profile on")
    add_json(p)
    p.add_argument("duration", nargs="?", type=positive_int,
                   help="duration of trace, in seconds")
    return p


def predicate(opts) -> str:
    conds = []
    if opts.pid:
        conds.append(" || ".join(f"pid == {p}" for p in opts.pid))
    if opts.tid:
        conds.append(" || ".join(f"tid == {t}" for t in opts.tid))
    if not opts.include_idle:
        conds.append("pid != 0")
    if opts.cpu is not None:
        conds.append(f"cpu == {opts.cpu}")
    if not conds:
        return ""
    return " /" + " && ".join(f"({c})" if "||" in c else c for c in conds) + "/"


def build(opts) -> Plan:
    freq = opts.frequency or (None if opts.count else 49)
    probe = f"profile:hz:{freq}" if freq else f"software:cpu-clock:{opts.count}"
    kernel, user = not opts.user_stacks_only, not opts.kernel_stacks_only
    keys = (["kstack"] if kernel else []) + (["ustack"] if user else []) + ["comm", "pid"]
    delimit = opts.delimited and kernel and user
    report = "print(@); clear(@);"
    if not opts.json and not opts.folded:
        report = printf("\n") + report
    text = (CONFIG + probe + predicate(opts) + f" {{\n  @[{', '.join(keys)}] = count();\n}}\n"
            + (f"interval:s:{opts.duration} {{ exit(); }}\n" if opts.duration else "")
            + "END {\n  " + report + "\n}\n")

    def kframes(stack) -> list[str]:
        names = bccfmt.frames(stack)
        return [n + "_[k]" for n in names] if opts.annotations else names

    def stacks(data) -> str:
        out = []
        for k, count in bccfmt.by_count(data):
            parts = dict(zip(keys, k))
            kf = kframes(parts["kstack"]) if kernel else []
            uf = bccfmt.frames(parts["ustack"]) if user else []
            out.append(bccfmt.stack_entry(kf, uf, delimit, parts["comm"], parts["pid"], count,
                                          opts.folded))
        return "".join(out)

    banner = None
    if not opts.folded:
        who = (f"PID {','.join(map(str, opts.pid))}" if opts.pid else
               f"TID {','.join(map(str, opts.tid))}" if opts.tid else "all threads")
        which = "user" if not kernel else "kernel" if not user else "user + kernel"
        rate = f"Sampling at {freq} Hertz" if freq else f"Sampling every {opts.count} events"
        banner = (f"{rate} of {who} by {which} stack"
                  + (f" on CPU#{opts.cpu}" if opts.cpu is not None else "")
                  + (f" for {opts.duration} secs.\n" if opts.duration else
                     "... Hit Ctrl-C to end.\n"))
    single = opts.pid[0] if opts.pid and len(opts.pid) == 1 else None
    return Plan(text=text, pid=single, json=opts.json, banner=banner, formats={"@": stacks})
