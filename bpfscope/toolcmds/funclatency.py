"""funclatency: time kernel or user functions from entry to return, as a log2 histogram.

bcc's funclatency: a ``nsecs``/``usecs``/``msecs`` histogram (one per
function with ``-F``), then ``avg = ..., total: ..., count: ...``, at the end
or every ``-i`` seconds. The entry probe stamps the thread, the return
probe adds the time since into ``hist()``; a call already running when the
trace starts is not counted. One stamp per thread means a nested or
recursive call's entry replaces its caller's; ``-l LEVEL`` keeps a stack of
LEVEL stamps per thread (bcc's ``-l``: each return takes the latest
entry), so callers are timed too. ``-v`` prints the script made.
"""

from __future__ import annotations

import sys

from . import bccfmt, patterns
from .common import (Plan, ToolError, ToolParser, add_flags, pattern_parser, pid_filter, report,
                     summary_script, tracing_banner)

HOOKS = None   # the pattern names them

EXAMPLES = """\
    bpfscope funclatency do_sys_open        # time the do_sys_open() kernel function
    bpfscope funclatency c:read             # time the read() C library function
    bpfscope funclatency -u vfs_read        # time vfs_read(), in microseconds
    bpfscope funclatency -m do_nanosleep    # time do_nanosleep(), in milliseconds
    bpfscope funclatency -i 2 -d 10 c:open  # output every 2 seconds, for 10 seconds
    bpfscope funclatency -mTi 5 vfs_read    # output every 5 seconds, with timestamps
    bpfscope funclatency -p 181 vfs_read    # time process 181 only
    bpfscope funclatency 'vfs_fstat*'       # time both vfs_fstat() and vfs_fstatat()
    bpfscope funclatency 'c:*printf'        # time the *printf family of functions
    bpfscope funclatency -F 'vfs_r*'        # show one histogram per matched function
    bpfscope funclatency -F -l 3 'c:tw_*'   # nested calls (up to 3 deep) each timed
    bpfscope funclatency -v c:read          # print the bpftrace program made, then run it
"""

UNITS = {"nsecs": 1, "usecs": 1000, "msecs": 1000000}


def _options(p) -> None:
    add_flags(p.add_mutually_exclusive_group(), ("-u", "--microseconds", "microsecond histogram"),
              ("-m", "--milliseconds", "millisecond histogram"))
    add_flags(p, ("-F", "--function", "show a separate histogram per function"))
    p.add_argument("-l", "--level", type=int, metavar="LEVEL",
                   help="set the level of nested or recursive functions")
    add_flags(p, ("-v", "--verbose", "print the bpftrace program before running it"))


def parser() -> ToolParser:
    return pattern_parser("funclatency", "Time functions and print latency as a histogram",
                          EXAMPLES, _options, what="functions")


def build(opts) -> Plan:
    pat = patterns.parse(opts.pattern, opts.pid, kinds=("kernel", "user"))
    matches = patterns.expand(pat, opts.regexp, opts.pid)
    label = "msecs" if opts.milliseconds else "usecs" if opts.microseconds else "nsecs"
    div = UNITS[label]
    returns = patterns.returns(matches)
    names = patterns.display_names(returns)
    key = "[probe]" if opts.function else ""
    if opts.level is not None and not 1 <= opts.level <= 64:
        raise ToolError(f"-l {opts.level}: the level must be from 1 to 64")
    per = ", @__depth[tid]" if opts.level else ""
    scaled = f"(nsecs - @__start[tid{per}])" + (f" / {div}" if div > 1 else "")
    if opts.level:
        # the depth counts every call; the outermost LEVEL calls have a stamp,
        # deeper ones are not timed (bcc's stack of LEVEL entries, when full)
        probes = (patterns.probe_list(matches) + pid_filter(opts.pid)
                  + f" {{\n  if (@__depth[tid] < {opts.level}) {{ @__start[tid, @__depth[tid]]"
                  " = nsecs; }\n  @__depth[tid] = @__depth[tid] + 1;\n}\n"
                  + patterns.probe_list(returns) + " /@__depth[tid]/ {\n"
                  "  @__depth[tid] = @__depth[tid] - 1;\n"
                  f"  if (@__depth[tid] < {opts.level}) {{\n    @{key} = hist({scaled});\n"
                  "    delete(@__start[tid, @__depth[tid]]);\n  }\n"
                  "  if (@__depth[tid] == 0) { delete(@__depth[tid]); }\n}\n")
        end = "\n  clear(@__start); clear(@__depth);"
    else:
        probes = (patterns.probe_list(matches) + pid_filter(opts.pid)
                  + " {\n  @__start[tid] = nsecs;\n}\n"
                  + patterns.probe_list(returns) + " /@__start[tid]/ {\n"
                  + f"  @{key} = hist({scaled});\n  delete(@__start[tid]);\n}}\n")
        end = "\n  clear(@__start);"
    text = summary_script(probes, opts, report(opts), end=end)
    if opts.verbose:
        sys.stdout.write(text + "\n")

    def histograms(data) -> str:
        header = (lambda k: f"\nFunction = {names.get(k[0], k[0].rsplit(':', 1)[-1])}\n") \
            if opts.function else None
        text, count, total = bccfmt.hist_sections(data, label, header, order=lambda e: str(e[0]))
        return text + (bccfmt.avg_line(count, total, label) + "\n" if count else "")

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=tracing_banner(len(matches), opts.pattern), formats={"@": histograms})
