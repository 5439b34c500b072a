"""ucalls: count the Python calls of a process (-L: and time them), from its USDT probes.

bcc's ucalls for Python: ``METHOD # CALLS`` (``-L``: and the time spent)
for each ``file.function`` the process called, the most called (or
longest) last, ``-T`` only the top ones, every ``interval`` seconds and
at the end. The hooks are CPython's ``python:function__entry`` and
``function__return`` USDT probes, found in the files the process maps
(a python built with ``--with-dtrace``, as Debian's is); their arguments
are the file name, the function name and the line. CPython 3.11 and later
reach those probes only on their tracing path, which the ``python:line``
probe's semaphore turns on: the tool attaches an empty ``line`` probe
too (without it no call is seen; with it each line costs one probe hit).
"""

from __future__ import annotations

from ..attach import usdt
from . import bccfmt
from .common import (CONFIG, Plan, ToolError, ToolParser, add_flags, add_json, intervals,
                     positive_int, report)

HOOKS = ("usdt",)

EXAMPLES = """\
    bpfscope ucalls -l python 185     # count the Python calls of process 185 until Ctrl-C
    bpfscope ucalls -l python 185 5   # a table every 5 seconds
    bpfscope ucalls -L 185            # the time spent in each function too (microseconds)
    bpfscope ucalls -mLT 10 185       # the 10 slowest, in milliseconds
"""

LANGUAGES = ("python",)


def parser() -> ToolParser:
    p = ToolParser("ucalls", "Summarize method calls in high-level languages.", EXAMPLES)
    p.add_argument("-l", "--language", choices=LANGUAGES, default="python",
                   help="language to trace (python)")
    p.add_argument("-T", "--top", type=positive_int, metavar="TOP",
                   help="number of most frequent/slow calls to print")
    add_flags(p, ("-L", "--latency", "record method latency from enter to exit"),
              ("-m", "--milliseconds", "report times in milliseconds (default is microseconds)"))
    add_json(p)
    p.add_argument("pid", type=positive_int, help="process id to attach to")
    p.add_argument("interval", nargs="?", type=positive_int,
                   help="print every specified number of seconds")
    return p


def python_files(pid: int) -> list[str]:
    """The files process ``pid`` maps that have CPython's function probes."""
    try:
        paths = usdt.resolve_targets("*", pid)
    except Exception:  # noqa: BLE001 - a process that went away
        raise ToolError(f"cannot read the files of process {pid}") from None
    out = []
    for path in paths:
        try:
            if usdt.match(path, "python", "function__entry"):
                out.append(path)
        except Exception:  # noqa: BLE001 - a mapped file without notes, or unreadable
            continue
    if not out:
        raise ToolError(f"process {pid} has no Python USDT probes (python:function__entry); "
                        "its python must be built with --with-dtrace")
    return out


def switch_on(files: list[str]) -> str:
    """The empty python:line probe whose semaphore makes CPython 3.11+
    take the path where its function probes fire ('' without one)."""
    lines = ",\n".join(f"usdt:{f}:python:line" for f in files if usdt.match(f, "python", "line"))
    return f"{lines} /0/ {{ }}\n" if lines else ""


def build(opts) -> Plan:
    files = python_files(opts.pid)
    entry = ",\n".join(f"usdt:{f}:python:function__entry" for f in files)
    ret = ",\n".join(f"usdt:{f}:python:function__return" for f in files)
    key = "str(arg0), str(arg1)"
    div, unit = (1000000, "ms") if opts.milliseconds else (1000, "us")
    if opts.latency:
        probes = (f"{entry} /pid == {opts.pid}/ {{\n  @[{key}] = count();\n"
                  "  @__depth[tid] = @__depth[tid] + 1;\n"
                  "  @__start[tid, @__depth[tid]] = nsecs;\n}\n"
                  f"{ret} /pid == {opts.pid} && @__depth[tid] > 0/ {{\n"
                  "  $t0 = @__start[tid, @__depth[tid]];\n"
                  "  if ($t0) {\n"
                  f"    @time[{key}] = sum(nsecs - $t0);\n"
                  "  }\n  delete(@__start[tid, @__depth[tid]]);\n"
                  "  @__depth[tid] = @__depth[tid] - 1;\n}\n")
        rep = report(opts).replace("print(@); clear(@);",
                                   "print(@); print(@time); clear(@); clear(@time);")
    else:
        probes = f"{entry} /pid == {opts.pid}/ {{\n  @[{key}] = count();\n}}\n"
        rep = report(opts)
    text = (CONFIG + probes + switch_on(files) + intervals(opts.interval, None, rep, opts.json)
            + "END {\n  " + rep + "\n}\n")
    counts: dict = {}

    def calls(data) -> str:
        if opts.latency:
            counts.clear()
            counts.update(data.entries)
            return ""
        rows = bccfmt.by_count(data)[-opts.top:] if opts.top else bccfmt.by_count(data)
        return f"{'METHOD':<50} {'# CALLS':>8}\n" + "".join(
            f"{k[0] + '.' + k[1]:<50} {n:>8}\n" for k, n in rows)

    def times(data) -> str:
        rows = sorted(dict(data.entries).items(), key=lambda e: e[1])
        rows = rows[-opts.top:] if opts.top else rows
        return f"{'METHOD':<50} {'# CALLS':>8} {'TIME (' + unit + ')':>8}\n" + "".join(
            f"{k[0] + '.' + k[1]:<50} {counts.get(k, 0):>8} {t / div:>6.2f}\n" for k, t in rows)

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=f"Tracing calls in process {opts.pid} (language: {opts.language})... "
                       "Ctrl-C to quit.\n",
                formats={"@": calls, "@time": times})
