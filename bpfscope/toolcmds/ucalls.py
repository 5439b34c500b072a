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
``-S`` counts (``-L``: times) the process's system calls as well, named as
the x86-64 table names them, in the same table (bcc's raw_syscalls
tracepoints); ``-l none -S`` traces only those.
"""

from __future__ import annotations

from ..attach import usdt
from . import bccfmt
from ..arch.syscalls_x86_64 import SYSCALLS
from .common import (CONFIG, Plan, ToolError, ToolParser, add_flags, add_json, intervals, joined,
                     positive_int, printf)

HOOKS = ("usdt",)

EXAMPLES = """\
    bpfscope ucalls -l python 185     # count the Python calls of process 185 until Ctrl-C
    bpfscope ucalls -l python 185 5   # a table every 5 seconds
    bpfscope ucalls -L 185            # the time spent in each function too (microseconds)
    bpfscope ucalls -mLT 10 185       # the 10 slowest, in milliseconds
    bpfscope ucalls -SL 185           # the system calls too, and their times
    bpfscope ucalls -l none -S 185    # only the system calls of process 185
"""

LANGUAGES = ("python", "none")


def parser() -> ToolParser:
    p = ToolParser("ucalls", "Summarize method calls in high-level languages.", EXAMPLES)
    p.add_argument("-l", "--language", choices=LANGUAGES, default="python",
                   help="language to trace (python, or none: system calls only, with -S)")
    p.add_argument("-T", "--top", type=positive_int, metavar="TOP",
                   help="number of most frequent/slow calls to print")
    add_flags(p, ("-L", "--latency", "record method latency from enter to exit"),
              ("-m", "--milliseconds", "report times in milliseconds (default is microseconds)"),
              ("-S", "--syscalls", "count system calls made by the process (-L: and time them)"))
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


def _python_probes(opts, files: list[str], key: str) -> str:
    entry = ",\n".join(f"usdt:{f}:python:function__entry" for f in files)
    ret = ",\n".join(f"usdt:{f}:python:function__return" for f in files)
    if not opts.latency:
        return f"{entry} /pid == {opts.pid}/ {{\n  @[{key}] = count();\n}}\n"
    return (f"{entry} /pid == {opts.pid}/ {{\n  @[{key}] = count();\n"
            "  @__depth[tid] = @__depth[tid] + 1;\n"
            "  @__start[tid, @__depth[tid]] = nsecs;\n}\n"
            f"{ret} /pid == {opts.pid} && @__depth[tid] > 0/ {{\n"
            "  $t0 = @__start[tid, @__depth[tid]];\n"
            "  if ($t0) {\n"
            f"    @time[{key}] = sum(nsecs - $t0);\n"
            "  }\n  delete(@__start[tid, @__depth[tid]]);\n"
            "  @__depth[tid] = @__depth[tid] - 1;\n}\n")


def _syscall_probes(opts) -> str:
    if not opts.latency:
        return (f"tracepoint:raw_syscalls:sys_enter /pid == {opts.pid}/ {{\n"
                "  @sys[args.id] = count();\n}\n")
    return (f"tracepoint:raw_syscalls:sys_enter /pid == {opts.pid}/ {{\n"
            "  @__sysid[tid] = args.id; @__sysstart[tid] = nsecs;\n}\n"
            f"tracepoint:raw_syscalls:sys_exit /pid == {opts.pid} && @__sysstart[tid]/ {{\n"
            "  @sys[@__sysid[tid]] = count();\n"
            "  @systime[@__sysid[tid]] = sum(nsecs - @__sysstart[tid]);\n"
            "  delete(@__sysid[tid]); delete(@__sysstart[tid]);\n}\n")


def syscall_name(nr: int) -> str:
    return SYSCALLS.get(nr, f"[unknown: {nr}]")


def build(opts) -> Plan:
    if opts.language == "none" and not opts.syscalls:
        raise ToolError("-l none traces nothing without -S")
    files = python_files(opts.pid) if opts.language != "none" else []
    key = "str(arg0), str(arg1)"
    div, unit = (1000000, "ms") if opts.milliseconds else (1000, "us")
    probes = _python_probes(opts, files, key) + switch_on(files) if files else ""
    names = (["@"] + (["@time"] if opts.latency else [])) if files else []
    if opts.syscalls:
        probes += _syscall_probes(opts)
        names += ["@sys"] + (["@systime"] if opts.latency else [])
    rep = "".join(f"print({n}); clear({n}); " for n in names).rstrip()
    if not opts.json:
        rep = printf("\n") + rep
    end = rep + (printf("Detaching kernel probes, please wait...\n")
                 if opts.syscalls and not opts.json else "")
    text = (CONFIG + probes + intervals(opts.interval, None, rep, opts.json)
            + "END {\n  " + end + "\n}\n")

    def table(*maps: dict) -> str:
        got = dict(zip(names, maps))
        rows = [(f"{k[0]}.{k[1]}", n, got.get("@time", {}).get(k, 0))
                for k, n in got.get("@", {}).items() if n]
        rows += [(syscall_name(k[0]), n, got.get("@systime", {}).get(k, 0))
                 for k, n in got.get("@sys", {}).items() if n]
        rows.sort(key=lambda r: r[2] if opts.latency else r[1])
        rows = rows[-opts.top:] if opts.top else rows
        if opts.latency:
            return f"{'METHOD':<50} {'# CALLS':>8} {'TIME (' + unit + ')':>8}\n" + "".join(
                f"{name:<50} {n:>8} {t / div:>6.2f}\n" for name, n, t in rows)
        return f"{'METHOD':<50} {'# CALLS':>8}\n" + "".join(
            f"{name:<50} {n:>8}\n" for name, n, _ in rows)

    banner = (("Attached kernel tracepoints for syscall tracing.\n" if opts.syscalls else "")
              + f"Tracing calls in process {opts.pid} (language: {opts.language})... "
              "Ctrl-C to quit.\n")
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=banner,
                formats=joined(names, table))
