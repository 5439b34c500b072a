"""stackcount: count the distinct stacks that lead to functions, tracepoints or USDT probes.

bcc's stackcount: each stack (kernel frames, then user frames) with the
number of times it was seen, smallest count first, at the end or every
``-i`` seconds; ``-f`` prints folded lines (``comm;user;-;kernel N``) for
flame graphs. The stacks are the map's keys (``kstack``, ``ustack``).
"""

from __future__ import annotations

from . import bccfmt, patterns
from .common import (Plan, ToolParser, add_cpu, add_flags, add_stack_only, pattern_parser,
                     pid_filter, report, summary_script, tracing_banner)

HOOKS = None   # the pattern names them

EXAMPLES = """\
    bpfscope stackcount submit_bio          # kernel stacks that lead to submit_bio()
    bpfscope stackcount -d ip_output        # with "--" between kernel and user stacks
    bpfscope stackcount -s ip_output        # show symbol offsets
    bpfscope stackcount -sv ip_output       # show offsets and raw addresses (verbose)
    bpfscope stackcount 'tcp_send*'         # stacks for functions matching tcp_send*
    bpfscope stackcount -r '^tcp_send.*'    # the same, using regular expressions
    bpfscope stackcount -Ti 5 ip_output     # output every 5 seconds, with timestamps
    bpfscope stackcount -p 185 ip_output    # stacks of PID 185 only
    bpfscope stackcount -P ip_output        # stacks of each process separately
    bpfscope stackcount -c 1 ip_output      # stacks seen on CPU 1 only
    bpfscope stackcount -U c:malloc         # user stacks that call malloc()
    bpfscope stackcount t:sched:sched_fork  # stacks leading to the sched_fork tracepoint
    bpfscope stackcount -p 185 u:node:gc*   # stacks at node's gc* USDT probes, PID 185
    bpfscope stackcount -f -D 10 c:malloc > out.folded   # folded, for flame graphs
"""


def _options(p) -> None:
    add_flags(p, ("-s", "--offset", "show address offsets"),
              ("-P", "--perpid", "display stacks separately for each process"))
    add_stack_only(p)
    add_flags(p, ("-v", "--verbose", "show raw addresses"),
              ("-d", "--delimited", "insert delimiter between kernel/user stacks"),
              ("-f", "--folded", "output folded format"))
    add_cpu(p)


def parser() -> ToolParser:
    return pattern_parser("stackcount", "Count events and their stack traces", EXAMPLES,
                          _options, duration=("-D", "--duration"))


def stack_key(kernel: bool, user: bool, perpid: bool) -> list[str]:
    """The keys of the counting map, in this order."""
    return (["kstack"] if kernel else []) + (["ustack"] if user else []) + \
        (["comm", "pid"] if perpid else [])


def build(opts) -> Plan:
    pat = patterns.parse(opts.pattern, opts.pid)
    matches = patterns.expand(pat, opts.regexp, opts.pid)
    kernel, user = not opts.user_stacks_only, not opts.kernel_stacks_only
    keys = stack_key(kernel, user, opts.perpid)
    delimit = opts.delimited and kernel and user
    text = summary_script(patterns.probe_list(matches) + pid_filter(opts.pid, opts.cpu)
                          + f" {{\n  @[{', '.join(keys)}] = count();\n}}\n",
                          opts, report(opts, blank=not opts.folded), detach=not opts.folded)

    def frame(addr: int, name: str) -> str:
        return (f"{addr:<16x} " if opts.verbose else "") + name

    def stacks(data) -> str:
        out = []
        for k, count in bccfmt.by_count(data):
            parts = dict(zip(keys, k))
            ks, us = parts.get("kstack"), parts.get("ustack")
            kf = bccfmt.frames(ks, opts.offset) if ks is not None else []
            uf = bccfmt.frames(us, opts.offset) if us is not None else []
            if opts.folded:
                line = ([parts["comm"]] if opts.perpid else []) + uf[::-1] + \
                    (["-"] if delimit and kf and uf else []) + kf[::-1]
                out.append(f"{';'.join(line)} {count}\n")
                continue
            out += [f"  {frame(a, f)}\n" for a, f in zip(ks.addrs, kf)] if kf else []
            if delimit and kf and uf:
                out.append("    --\n")
            out += [f"  {frame(a, f)}\n" for a, f in zip(us.addrs, uf)] if uf else []
            if opts.perpid and not opts.pid:
                out.append(f"    {parts['comm']} [{parts['pid']}]\n")
            out.append(f"    {count}\n\n")
        return "".join(out)

    banner = None if opts.folded else tracing_banner(len(matches), opts.pattern)
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=banner,
                formats={"@": stacks})
