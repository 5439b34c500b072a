"""What softirqs and hardirqs share: their options, the script that times
an interrupt from its entry to its exit tracepoint on one CPU (interrupts
of one kind do not nest there), and bcc's table of totals or histograms."""

from __future__ import annotations

from . import bccfmt
from .common import (CONFIG, ToolParser, add_interval_count, add_json, add_timestamp, every,
                     printf, report)


def parser(name: str, description: str, examples: str, add_options,
           count_name: str = "count") -> ToolParser:
    p = ToolParser(name, description, examples)
    add_timestamp(p)
    p.add_argument("-N", "--nanoseconds", action="store_true", help="output in nanoseconds")
    add_options(p)
    p.add_argument("-c", "--cpu", type=int, metavar="CPU", help="trace this CPU only")
    add_json(p)
    add_interval_count(p, count_name)
    return p


def unit(opts) -> tuple[str, int]:
    """The label and divisor of the times."""
    return ("nsecs", 1) if opts.nanoseconds else ("usecs", 1000)


def cpu_filter(opts) -> str:
    return f" /cpu == {opts.cpu}/" if opts.cpu is not None else ""


def timed(opts, entry: str, exit: str, key: str, stash: str = "") -> str:
    """The probes adding each interrupt's time into ``@[key]``: a sum in
    nanoseconds, or with -d a histogram in the unit. ``stash``: more
    statements at the entry (the key kept per CPU)."""
    div = unit(opts)[1]
    delta = "(nsecs - @__start[cpu])" + (f" / {div}" if opts.dist and div > 1 else "")
    agg = f"hist({delta})" if opts.dist else f"sum({delta})"
    return (f"{entry}{cpu_filter(opts)} {{\n  @__start[cpu] = nsecs;{stash}\n}}\n"
            f"{exit} /@__start[cpu]/ {{\n  @[{key}] = {agg};\n  delete(@__start[cpu]);\n}}\n")


def script(opts, probes: str, title: str, width: int, label: str,
           count_name: str = "count", end: str = "") -> str:
    """The whole script: ``probes``, then the report every interval and at
    the end (the ``title`` column header above the totals)."""
    head = "" if opts.dist else printf(f"{title:<{width}} {'TOTAL_' + label:>11}\n")
    rep = report(opts, head)
    return CONFIG + probes + every(opts, rep, count_name) + "END {\n  " + rep + end + "\n}\n"


def table(opts, data, section: str, name_of, width: int, label: str, div: int) -> str:
    """bcc's report: a histogram per key under '<section> = NAME' with -d,
    else NAME and its total, smallest first."""
    if opts.dist:
        return bccfmt.hist_sections(data, label, lambda k: f"\n{section} = {name_of(k[0])}\n")[0]
    return "".join(f"{name_of(k[0]):<{width}} {v // div:>11}\n" for k, v in bccfmt.by_count(data))
