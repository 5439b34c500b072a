"""funccount: count calls of functions, tracepoints or USDT probes matching a pattern.

bcc's funccount: ``FUNC COUNT`` tables, smallest count first, at the end
(Ctrl-C or ``-d``) or every ``-i`` seconds, then ``Detaching...``. Each
matched probe counts into ``@[probe]``; the tool prints the names without
their probe type.
"""

from __future__ import annotations

from . import bccfmt, patterns
from .common import (Plan, ToolParser, add_cpu, pattern_parser, pid_filter, printf, report,
                     summary_script, tracing_banner)

DESCRIPTION = "Count functions, tracepoints and USDT probes"
HOOKS = None   # the pattern names them

EXAMPLES = """\
    bpfscope funccount 'vfs_*'                  # kernel functions starting with "vfs_"
    bpfscope funccount -r '^vfs_(read|write)$'  # the same with a regular expression
    bpfscope funccount -Ti 5 'vfs_*'            # a table every 5 seconds, with the time
    bpfscope funccount -d 10 'vfs_*'            # trace for 10 seconds only
    bpfscope funccount -p 185 'vfs_*'           # calls made by PID 185 only
    bpfscope funccount -c 1 'vfs_*'             # calls made on CPU 1 only
    bpfscope funccount 't:syscalls:sys_enter_*' # every syscall tracepoint
    bpfscope funccount c:malloc                 # malloc() calls in libc
    bpfscope funccount -p 185 'u:node:gc*'      # the gc* USDT probes of node, PID 185
    bpfscope funccount './app:read*'            # read* functions of the ./app binary
"""


def parser() -> ToolParser:
    return pattern_parser("funccount", "Count functions, tracepoints, and USDT probes",
                          EXAMPLES, add_cpu)


def build(opts) -> Plan:
    pat = patterns.parse(opts.pattern, opts.pid)
    matches = patterns.expand(pat, opts.regexp, opts.pid)
    names = patterns.display_names(matches)
    rep = report(opts, printf(f"{'FUNC':<36} {'COUNT':>8}\n"))
    text = summary_script(patterns.probe_list(matches) + pid_filter(opts.pid, opts.cpu)
                          + " {\n  @[probe] = count();\n}\n", opts, rep)

    def table(data) -> str:
        return "".join(f"{names.get(k[0], k[0].rsplit(':', 1)[-1]):<36} {v:>8}\n"
                       for k, v in bccfmt.by_count(data))

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=tracing_banner(len(matches), opts.pattern), formats={"@": table})
