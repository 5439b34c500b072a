"""funcslower: trace kernel or user function calls slower than a threshold, one line each.

bcc's funcslower: ``COMM PID LAT(ms) RVAL FUNC`` for each call that took at
least ``-m`` milliseconds (``-u``: microseconds; 1 ms by default), with its
first ``-a`` arguments in hex and, with ``-U``/``-K``, the user or kernel
stack at the return (``-f``: instead of the lines, one folded line per
slow call, ``comm;user frames;-;kernel frames 1``, root first, for flame
graphs, as bcc prints it). The entry probe stamps the thread and keeps the
arguments; the return probe sends one record when the call was slow.
"""

from __future__ import annotations

import time

from . import bccfmt, patterns
from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_either, add_flags, add_json,
                     add_pid, record)

HOOKS = None   # the functions named decide

EXAMPLES = """\
    bpfscope funcslower vfs_write         # trace vfs_write calls slower than 1ms
    bpfscope funcslower -m 10 vfs_write   # same, but slower than 10ms
    bpfscope funcslower -u 10 c:open      # trace open calls slower than 10us
    bpfscope funcslower -p 135 c:open     # trace pid 135 only
    bpfscope funcslower c:malloc c:free   # trace both malloc and free slower than 1ms
    bpfscope funcslower -a 2 c:open       # show first two arguments to open
    bpfscope funcslower -UK -m 10 c:open  # show user and kernel stacks for slow open calls
    bpfscope funcslower -f -U c:open      # the user stacks, folded for flame graphs
"""

MAX_ARGS = 6


def parser() -> ToolParser:
    p = ToolParser("funcslower", "Trace slow kernel or user function calls.", EXAMPLES)
    add_pid(p)
    p.add_argument("-a", "--arguments", type=int, default=0, metavar="ARGUMENTS",
                   help="print this many entry arguments, as hex")
    add_flags(p, ("-T", "--time", "show HH:MM:SS timestamp"),
              ("-t", "--timestamp", "show timestamp in seconds at us resolution"))
    add_either(p, ("-m", "--min-ms", "MIN_MS", "minimum duration to trace (ms)"),
               ("-u", "--min-us", "MIN_US", "minimum duration to trace (us)"))
    add_flags(p, ("-U", "--user-stack", "show stacks from user space"),
              ("-K", "--kernel-stack", "show stacks from kernel space"),
              ("-f", "--folded", "output folded format, one line per stack (for flame graphs)"))
    add_json(p)
    p.add_argument("functions", nargs="+", metavar="function",
                   help="function(s) to trace")
    return p


def build(opts) -> Plan:
    if not 0 <= opts.arguments <= MAX_ARGS:
        raise ToolError(f"-a: at most {MAX_ARGS} arguments can be shown")
    matches = []
    for f in opts.functions:
        pat = patterns.parse(f, opts.pid, kinds=("kernel", "user"))
        matches += patterns.expand(pat, False, opts.pid)
    returns = patterns.returns(matches)
    names = patterns.display_names(returns)
    us = bool(opts.min_us)
    min_ns = opts.min_us * 1000 if us else (opts.min_ms or 1) * 1000000
    keep = "".join(f" @__a{i}[tid] = arg{i};" for i in range(opts.arguments))
    fields = [("%s", "comm"), ("%d", "pid"), ("%llu", "$d"), ("%llu", "(uint64)retval"),
              ("%s", "probe"), ("%llu", "(nsecs - @__t0) / 1000")]
    fields += [("%llx", f"@__a{i}[tid]") for i in range(opts.arguments)]
    if opts.user_stack:
        fields.append(("%s", "ustack"))
    if opts.kernel_stack:
        fields.append(("%s", "kstack"))
    pid = f" /pid == {opts.pid}/" if opts.pid else ""
    clear = "".join(f" delete(@__a{i}[tid]);" for i in range(opts.arguments))
    text = (CONFIG + "BEGIN { @__t0 = nsecs; }\n"
            + patterns.probe_list(matches) + pid + f" {{\n  @__start[tid] = nsecs;{keep}\n}}\n"
            + patterns.probe_list(returns) + " /@__start[tid]/ {\n"
            + "  $d = nsecs - @__start[tid];\n"
            + f"  if ($d >= {min_ns}) {{\n    " + record("slow", fields) + "\n  }\n"
            + "  delete(@__start[tid]);" + clear + "\n}\n"
            + "END { clear(@__start); delete(@__t0); }\n")
    unit, mult = ("us", 1000) if us else ("ms", 1000000)

    def frames(v: dict, key: str) -> list[str]:
        return [bccfmt.frame_name(f) for f in v.get(key, "").splitlines() if f.strip()]

    def folded(v: dict) -> str:
        if not (opts.user_stack or opts.kernel_stack):
            return ""
        uf, kf = frames(v, "ustack"), frames(v, "kstack")
        line = [v["comm"]] + uf[::-1] + (["-"] if uf and kf else []) + kf[::-1]
        return ";".join(line) + " 1\n"

    def line(v: dict) -> str:
        if opts.folded:
            return folded(v)
        head = ""
        if opts.time:
            head += f"{time.strftime('%H:%M:%S'):<10} "
        if opts.timestamp:
            head += f"{v['ts_us'] / 1e6:<12.6f} "
        args = " ".join(f"0x{v['a' + str(i)]}" for i in range(opts.arguments))
        func = names.get(v["probe"], v["probe"].rsplit(":", 1)[-1])
        out = (f"{head}{v['comm'][:14]:<14} {v['pid']:<6} {v['dur'] / mult:7.2f} "
               f"{v['rval']:16x} {func} {args}".rstrip() + "\n")
        for key in ("ustack", "kstack"):
            if key in v:
                out += "".join(f"    {f.strip()}\n" for f in v[key].splitlines() if f.strip())
        return out

    names_ = ["comm", "pid#", "dur#", "rval#", "probe", "ts_us#"]
    names_ += [f"a{i}" for i in range(opts.arguments)]
    names_ += (["ustack"] if opts.user_stack else []) + (["kstack"] if opts.kernel_stack else [])
    header = ((f"{'TIME':<10} " if opts.time else "")
              + (f"{'TIME(s)':<12} " if opts.timestamp else "")
              + f"{'COMM':<14} {'PID':<6} {'LAT(' + unit + ')':>7} {'RVAL':>16} FUNC"
              + (" ARGS" if opts.arguments else "") + "\n")
    what = f"{opts.min_us} us" if us else f"{opts.min_ms or 1} ms"
    banner = None if opts.folded else \
        f"Tracing function calls slower than {what}... Ctrl+C to quit.\n" + header
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=banner,
                records={"slow": Record(tuple(names_), line)})
