"""What the tools with options share: their argument parser, the common
options, the plan a tool hands to the CLI, and the sink that lays out the
maps the tool prints.

A tool does not run anything itself: ``build(opts)`` returns a
:class:`Plan`, the bpftrace script made from the options plus how its
output is shown, and the CLI compiles and runs that script exactly as it
runs ``-e`` (same errors, same Ctrl-C and exit handling, same ``-f json``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..runtime.values import MapData


class ToolError(Exception):
    """Bad input a tool found after parsing its options (a pattern that
    matches nothing, a library that does not exist): one ``ERROR:`` line."""


@dataclass
class Plan:
    """What the CLI runs for a tool.

    ``text`` is the bpftrace script; ``pid`` becomes bpfscope's ``-p``
    (uprobes and USDT probes fire only in that process, and the trace ends
    with it; other probes filter on it in the script), ``cmd`` its ``-c``
    (the script filters on ``cpid``); ``json`` selects
    ``-f json``. In text output ``banner`` is printed once every probe is
    attached, and ``formats`` gives, for map names, the function that
    turns a ``print(@name)`` into the tool's own layout; ``records`` lay
    out the per-event records the script sends (:class:`Record`). ``run``
    is set instead of ``text`` by a tool that traces nothing (tplist): the
    CLI calls it and exits with what it returns. ``stop``, when set, is
    asked as the trace runs whether the tool is done (trace's ``-M``).
    """

    text: str = ""
    pid: int | None = None
    cmd: str | None = None
    json: bool = False
    banner: str | None = None
    formats: dict[str, Callable[[MapData], str]] = field(default_factory=dict)
    records: dict[str, "Record"] = field(default_factory=dict)
    run: Callable[[], int] | None = None
    stop: Callable[[], bool] | None = None


RS, US = "\x1e", "\x1f"   # a record's start and its field separator


@dataclass
class Record:
    """Per-event output a tool lays out itself (exitsnoop's lines): the
    script's :func:`record` printf sends the values, ``fields`` names them
    (a name ending in ``#`` is an integer, the ``#`` dropped), and ``text``
    turns them into the tool's text ('' to print nothing yet). In JSON
    output each is one ``{"type": TAG, "data": {fields}}`` line. ``keep``,
    when set, says whether a record is shown at all (in both outputs)."""
    fields: tuple[str, ...]
    text: Callable[[dict], str]
    keep: Callable[[dict], bool] | None = None

    def values(self, parts: list[str]) -> dict:
        out = {}
        for name, raw in zip(self.fields, parts):
            if name.endswith("#"):
                out[name[:-1]] = int(raw)
            else:
                out[name] = raw
        return out


def record(tag: str, values: list[tuple[str, str]]) -> str:
    """The printf() statement that sends record ``tag``: ``values`` are
    (printf conversion, expression) pairs."""
    fmt = "\\x1e" + tag + "".join("\\x1f" + conv for conv, _ in values) + "\\n"
    return f'printf("{fmt}"' + "".join(f", {e}" for _, e in values) + ");"


def joined(names: list[str], render: Callable[..., str]) -> dict[str, Callable[[MapData], str]]:
    """``Plan.formats`` for maps the script prints one after another (in
    ``names``' order) that make one table: each is kept, as {key: value},
    until the last arrives; then ``render(first, second, ...)`` draws it."""
    kept: dict[str, dict] = {}

    def keep(name: str):
        def fmt(data: MapData) -> str:
            kept[name] = dict(data.entries)
            return render(*(kept.get(n, {}) for n in names)) if name == names[-1] else ""
        return fmt
    return {n: keep(n) for n in names}


class ToolSink:
    """A text sink wrapped so that the tool's maps print in its layout and
    its banner follows the 'Attached' message."""

    def __init__(self, inner, plan: Plan):
        self.inner = inner
        self.plan = plan

    def attached(self, n_probes: int) -> None:
        self.inner.attached(n_probes)
        if self.plan.banner and not self.plan.json:
            self.inner.printf(self.plan.banner)

    def tool_done(self) -> bool:
        """Whether the tool has seen all it wanted (Plan.stop)."""
        return self.plan.stop is not None and self.plan.stop()

    def map(self, data: MapData, top: int = 0, div: int = 1) -> None:
        fmt = self.plan.formats.get(data.name)
        if fmt is None or self.plan.json:
            self.inner.map(data, top, div)
        else:
            self.inner.printf(fmt(data))

    def printf(self, text: str) -> None:
        if not text.startswith(RS):
            return self.inner.printf(text)
        tag, *parts = text[1:].rstrip("\n").split(US)
        rec = self.plan.records[tag]
        values = rec.values(parts)
        if rec.keep is not None and not rec.keep(values):
            return None
        if self.plan.json:
            from ..output.json import json_int, json_record, json_string
            body = ", ".join(f"{json_string(k)}: " + (json_int(v) if isinstance(v, int)
                                                       else json_string(v))
                             for k, v in values.items())
            self.inner.out.write(json_record(tag, "{" + body + "}"))
        else:
            line = rec.text(values)
            if line:
                self.inner.printf(line)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class ToolParser(argparse.ArgumentParser):
    """argparse with the tool's usage, description and examples in ``-h``;
    a usage error is printed and exits 2, as bcc's tools do."""

    def __init__(self, name: str, description: str, examples: str):
        super().__init__(prog=f"bpfscope {name}", description=description,
                         epilog="examples:\n" + examples.rstrip("\n"),
                         formatter_class=argparse.RawDescriptionHelpFormatter)

    def parse_args(self, args=None, namespace=None):
        opts = super().parse_args(args, namespace)
        if getattr(opts, "output_format", None) == "json":
            opts.json = True
        return opts

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"ERROR: {self.prog}: {message}\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be greater than 0")
    return n


def add_pid(p: argparse.ArgumentParser, what: str = "trace this PID only") -> None:
    p.add_argument("-p", "--pid", type=positive_int, metavar="PID", help=what)


def add_interval(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interval", type=positive_int, metavar="INTERVAL",
                   help="summary interval, seconds")


def add_duration(p: argparse.ArgumentParser, *flags: str) -> None:
    p.add_argument(*(flags or ("-d", "--duration")), dest="duration", type=positive_int,
                   metavar="DURATION", help="total duration of trace, seconds")


def add_timestamp(p: argparse.ArgumentParser, help: str = "include timestamp on output") -> None:
    p.add_argument("-T", "--timestamp", action="store_true", help=help)


def add_flags(p, *flags: tuple[str, str, str]) -> None:
    """On/off options: (short, long, help) each."""
    for short, long, help in flags:
        p.add_argument(short, long, action="store_true", help=help)


def add_either(p, *options: tuple[str, str, str, str], type=None) -> None:
    """Valued options of which one may be given: (short, long, METAVAR,
    help) each."""
    group = p.add_mutually_exclusive_group()
    for short, long, metavar, help in options:
        group.add_argument(short, long, type=type or positive_int, metavar=metavar, help=help)


def add_regexp(p: argparse.ArgumentParser) -> None:
    p.add_argument("-r", "--regexp", action="store_true",
                   help='use regular expressions. Default is "*" wildcards only.')


def add_stack_only(p: argparse.ArgumentParser) -> None:
    """bcc's -U / -K: user or kernel stacks only (default: both)."""
    only = p.add_mutually_exclusive_group()
    only.add_argument("-U", "--user-stacks-only", action="store_true",
                      help="show stacks from user space only (no kernel space stacks)")
    only.add_argument("-K", "--kernel-stacks-only", action="store_true",
                      help="show stacks from kernel space only (no user space stacks)")


def pattern_parser(name: str, description: str, examples: str, add_options,
                   duration=("-d", "--duration"), what: str = "events") -> ToolParser:
    """The parser of a tool tracing a bcc pattern (funccount, funclatency,
    stackcount): -p, -i, the duration, -T, -r, the tool's own options, -j
    and the pattern."""
    p = ToolParser(name, description, examples)
    add_pid(p)
    add_interval(p)
    add_duration(p, *duration)
    add_timestamp(p)
    add_regexp(p)
    add_options(p)
    add_json(p)
    p.add_argument("pattern", help=f"search expression for {what}")
    return p


def tracing_banner(n: int, pattern: str) -> str:
    return f'Tracing {n} functions for "{pattern}"... Hit Ctrl-C to end.\n'


def summary_script(probes: str, opts, rep: str, end: str = "", detach: bool = True) -> str:
    """A script that aggregates in ``probes`` (text with bodies), prints
    with ``rep`` every ``opts.interval`` seconds for ``opts.duration``, and
    at the end once more (then bcc's 'Detaching...' in text output) and
    runs ``end``."""
    tail = printf("Detaching...\n") if detach and not opts.json else ""
    return (CONFIG + probes + intervals(opts.interval, opts.duration, rep, opts.json)
            + "END {\n  " + rep + tail + end + "\n}\n")


def add_json(p: argparse.ArgumentParser) -> None:
    """-j/--json, and bpfscope's own -f json where the tool has no -f of
    its own (stackcount's and profile's -f is bcc's folded output)."""
    p.add_argument("-j", "--json", action="store_true",
                   help="print bpfscope's JSON output (as -f json)")
    if "-f" not in p._option_string_actions:
        p.add_argument("-f", dest="output_format", choices=("text", "json"), metavar="FORMAT",
                       help="output format, text or json (as bpfscope -f)")


def pid_filter(pid: int | None, cpu: int | None = None) -> str:
    """The predicate limiting a probe to one process and/or one CPU ('' for all)."""
    conds = ([f"pid == {pid}"] if pid else []) + ([f"cpu == {cpu}"] if cpu is not None else [])
    return f" /{' && '.join(conds)}/" if conds else ""


def cpu_number(text: str) -> int:
    """A CPU number option (0 and up)."""
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return n


def add_cpu(p: argparse.ArgumentParser) -> None:
    """bcc's -c/--cpu of funccount and stackcount."""
    p.add_argument("-c", "--cpu", type=cpu_number, metavar="CPU", help="trace this CPU only")


def intervals(interval: int | None, duration: int | None, report: str,
              json: bool) -> str:
    """The probes that print ``report`` (statements) every ``interval``
    seconds and end the trace after ``duration`` (bcc's loop: with only a
    duration the interval is the duration; the last report is END's)."""
    if duration and not interval:
        interval = duration
    if not interval:
        return ""
    ticks = -(-duration // interval) if duration else 0
    body = f"  {report}\n"
    if ticks:
        body = (f"  @__ticks = @__ticks + 1;\n"
                f"  if (@__ticks >= {ticks}) {{ exit(); }} else {{\n  {report}\n  }}\n")
    return f"interval:s:{interval} {{\n{body}}}\n"


def quote(name: str) -> str:
    """A probe's part, quoted when bpftrace's lexer needs it."""
    if name and all(c.isalnum() or c in "_*" for c in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# the script's first line: the tool prints its maps itself, and its stacks
# as bcc does, by function name without source lines or inlined frames
CONFIG = "config = { print_maps_on_exit = 0; show_debug_info = 0 }\n"


def printf(text: str) -> str:
    """A printf() statement printing ``text`` as it is."""
    esc = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("%", "%%")
    return f'printf("{esc}");'


def add_interval_count(p: argparse.ArgumentParser, count_name: str = "count") -> None:
    """bcc's positional ``[interval] [count]``: report every interval
    seconds, count times."""
    p.add_argument("interval", nargs="?", type=positive_int,
                   help="output interval, in seconds")
    p.add_argument(count_name, nargs="?", type=positive_int, help="number of outputs")


def every(opts, report: str, count_name: str = "count") -> str:
    """The interval probe of ``[interval] [count]`` options ('' for none)."""
    count = getattr(opts, count_name)
    return intervals(opts.interval, opts.interval * count if opts.interval and count else None,
                     report, opts.json)


def report(opts, *before: str, blank: bool = True) -> str:
    """Statements that print ``@`` in a tool's report: a blank line and
    with -T the time first (text output), then the map, cleared."""
    if opts.json:
        return "print(@); clear(@);"
    stamp = 'time("%H:%M:%S\\n");' if getattr(opts, "timestamp", False) else ""
    return (printf("\n") if blank else "") + stamp + "".join(before) + "print(@); clear(@);"
