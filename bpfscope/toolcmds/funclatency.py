"""funclatency: time kernel or user functions from entry to return, as a log2 histogram.

bcc's funclatency: a ``nsecs``/``usecs``/``msecs`` histogram (one per
function with ``-F``), then ``avg = ..., total: ..., count: ...``, at the end
or every ``-i`` seconds. The entry probe stamps the thread, the return
probe adds the time since into ``hist()``; a call already running when the
trace starts is not counted.
"""

from __future__ import annotations

from . import bccfmt, patterns
from .common import (CONFIG, Plan, ToolParser, add_duration, add_interval, add_json, add_pid,
                     add_timestamp, intervals, pid_filter, printf)

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


def parser() -> ToolParser:
    p = ToolParser("funclatency", "Time functions and print latency as a histogram", EXAMPLES)
    add_pid(p)
    add_interval(p)
    add_duration(p)
    add_timestamp(p)
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("-u", "--microseconds", action="store_true",
                      help="microsecond histogram")
    unit.add_argument("-m", "--milliseconds", action="store_true",
                      help="millisecond histogram")
    p.add_argument("-F", "--function", action="store_true",
                   help="show a separate histogram per function")
    p.add_argument("-r", "--regexp", action="store_true",
                   help='use regular expressions. Default is "*" wildcards only.')
    add_json(p)
    p.add_argument("pattern", help="search expression for functions")
    return p


def build(opts) -> Plan:
    pat = patterns.parse(opts.pattern, opts.pid, kinds=("kernel", "user"))
    matches = patterns.expand(pat, opts.regexp, opts.pid)
    label = "msecs" if opts.milliseconds else "usecs" if opts.microseconds else "nsecs"
    div = UNITS[label]
    returns = [patterns.Match(m.spec.replace("kprobe:", "kretprobe:", 1)
                              .replace("uprobe:", "uretprobe:", 1), m.display)
               for m in matches]
    names = patterns.display_names(returns)
    key = "[probe]" if opts.function else ""
    scaled = "(nsecs - @__start[tid])" + (f" / {div}" if div > 1 else "")
    if opts.json:
        report = "print(@); clear(@);"
    else:
        stamp = 'time("%H:%M:%S\\n");' if opts.timestamp else ""
        report = printf("\n") + stamp + "print(@); clear(@);"
    text = (CONFIG + patterns.probe_list(matches) + pid_filter(opts.pid)
            + " {\n  @__start[tid] = nsecs;\n}\n"
            + patterns.probe_list(returns) + " /@__start[tid]/ {\n"
            + f"  @{key} = hist({scaled});\n  delete(@__start[tid]);\n}}\n"
            + intervals(opts.interval, opts.duration, report, opts.json)
            + "END {\n  " + report + ("" if opts.json else printf("Detaching...\n"))
            + "\n  clear(@__start);\n}\n")

    def histograms(data) -> str:
        out = []
        count = total = 0
        for k, buckets in sorted(data.entries, key=lambda e: str(e[0])):
            if opts.function:
                name = names.get(k[0], k[0].rsplit(":", 1)[-1])
                out.append(f"\nFunction = {name}\n")
            out.append(bccfmt.log2_hist(buckets, label))
            n, t = bccfmt.hist_count_total(data, k)
            count, total = count + n, total + t
        if count:
            out.append(f"\navg = {total // count} {label}, total: {total} {label}, "
                       f"count: {count}\n\n")
        return "".join(out)

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=f'Tracing {len(matches)} functions for "{opts.pattern}"... '
                       "Hit Ctrl-C to end.\n",
                formats={"@": histograms})
