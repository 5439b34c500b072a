"""funclatency: time kernel or user functions from entry to return, as a log2 histogram.

bcc's funclatency: a ``nsecs``/``usecs``/``msecs`` histogram (one per
function with ``-F``), then ``avg = ..., total: ..., count: ...``, at the end
or every ``-i`` seconds. The entry probe stamps the thread, the return
probe adds the time since into ``hist()``; a call already running when the
trace starts is not counted.
"""

from __future__ import annotations

from . import bccfmt, patterns
from .common import (Plan, ToolParser, add_flags, pattern_parser, pid_filter, report,
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
"""

UNITS = {"nsecs": 1, "usecs": 1000, "msecs": 1000000}


def _options(p) -> None:
    add_flags(p.add_mutually_exclusive_group(), ("-u", "--microseconds", "microsecond histogram"),
              ("-m", "--milliseconds", "millisecond histogram"))
    add_flags(p, ("-F", "--function", "show a separate histogram per function"))


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
    scaled = "(nsecs - @__start[tid])" + (f" / {div}" if div > 1 else "")
    text = summary_script(
        patterns.probe_list(matches) + pid_filter(opts.pid)
        + " {\n  @__start[tid] = nsecs;\n}\n"
        + patterns.probe_list(returns) + " /@__start[tid]/ {\n"
        + f"  @{key} = hist({scaled});\n  delete(@__start[tid]);\n}}\n",
        opts, report(opts), end="\n  clear(@__start);")

    def histograms(data) -> str:
        header = (lambda k: f"\nFunction = {names.get(k[0], k[0].rsplit(':', 1)[-1])}\n") \
            if opts.function else None
        text, count, total = bccfmt.hist_sections(data, label, header, order=lambda e: str(e[0]))
        return text + (bccfmt.avg_line(count, total, label) + "\n" if count else "")

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=tracing_banner(len(matches), opts.pattern), formats={"@": histograms})
