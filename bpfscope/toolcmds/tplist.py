"""tplist: list kernel tracepoints, or the USDT probes of a file or process.

bcc's tplist: ``category:event`` lines (``-v``: each with its fields, as
``    type name;``), or with ``-l LIB`` / ``-p PID`` one ``path
provider:name`` line per USDT probe (``-v``: its semaphore, locations and
arguments). The filter is a glob matched against the whole name. Nothing
is traced: the lists come from the probe types' ``-l`` listings.
"""

from __future__ import annotations

import fnmatch
import os
import sys

from ..attach import providers, usdt
from .common import Plan, ToolError, ToolParser, positive_int
from .patterns import library

EXAMPLES = """\
    bpfscope tplist                        # every kernel tracepoint
    bpfscope tplist 'sched:*'              # the tracepoints of the sched category
    bpfscope tplist -v syscalls:sys_enter_openat   # with the fields it records
    bpfscope tplist -l /usr/bin/python3    # the USDT probes of a program or library
    bpfscope tplist -l c 'libc:mem*'       # libc's USDT probes named mem*
    bpfscope tplist -p 185                 # USDT probes of every file PID 185 maps
"""


def parser() -> ToolParser:
    p = ToolParser("tplist", "Display kernel tracepoints or USDT probes and their formats",
                   EXAMPLES)
    p.add_argument("-p", "--pid", type=positive_int, metavar="PID",
                   help="List USDT probes in the specified process")
    p.add_argument("-l", "--lib", default="", metavar="LIB",
                   help="List USDT probes in the specified library or executable")
    p.add_argument("-v", dest="verbosity", action="count", default=0,
                   help="Increase verbosity level (print variables, arguments, etc.)")
    p.add_argument("filter", nargs="?",
                   help="A filter that specifies which probes/tracepoints to print")
    return p


def tracepoint_lines(flt: str | None, verbosity: int) -> list[str]:
    out = []
    for line in providers.listing("tracepoint:*"):
        name = line.split(":", 1)[1]
        if flt and not fnmatch.fnmatchcase(name, flt):
            continue
        out.append(name)
        if verbosity:
            fields = providers.listing(line, True)[1:]
            out += [f"{f.rstrip()};" for f in fields]
    return out


def usdt_lines(lib: str, pid: int | None, flt: str | None, verbosity: int) -> list[str]:
    if pid and not os.path.exists(f"/proc/{pid}"):
        raise ToolError(f"-p {pid}: no such process")
    paths = [library(lib, pid)] if lib else usdt.resolve_targets("*", pid)
    out = []
    for path in paths:
        seen: dict[str, list] = {}
        try:
            sites = usdt.match(path, "*", "*")
        except Exception:  # noqa: BLE001 - a mapped file without notes, or unreadable
            if lib:
                raise ToolError(f"cannot read the USDT probes of '{path}'") from None
            continue
        for site in sites:
            if not flt or fnmatch.fnmatchcase(site.full_name, flt):
                seen.setdefault(site.full_name, []).append(site)
        for name, group in seen.items():
            first = group[0]
            if not verbosity:
                out.append(f"{path} {name}")
                continue
            out.append(f"{path} {name} [sema 0x{first.semaphore:x}]")
            out.append(f"  {len(group)} location(s)")
            out.append(f"  {len(first.args)} argument(s)")
            if verbosity > 1:
                for i, site in enumerate(group):
                    out.append(f"    location #{i + 1} 0x{site.pc:x}")
                    out += [f"      argument #{j + 1} {a}" for j, a in
                            enumerate(site.arg_str.split())]
    return out


def build(opts) -> Plan:
    def run() -> int:
        if opts.pid or opts.lib:
            lines = usdt_lines(opts.lib, opts.pid, opts.filter, opts.verbosity)
        else:
            lines = tracepoint_lines(opts.filter, opts.verbosity)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
        return 0
    return Plan(run=run)
