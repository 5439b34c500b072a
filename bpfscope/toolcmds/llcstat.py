"""llcstat: last level cache references and misses by process and CPU, sampled from the PMU.

bcc's llcstat: for ``duration`` seconds (10 by default) one sample every
``-c`` cache-reference and cache-miss events (hardware PMU counters; each
sample stands for that many events), then ``PID NAME CPU REFERENCE MISS
HIT%`` rows (``-t``: with the TID) and the totals. A machine without
hardware counters (most virtual machines) cannot run it: bpfscope says so.
"""

from __future__ import annotations

from .common import CONFIG, Plan, ToolParser, add_flags, add_json, joined, positive_int, printf

HOOKS = ("hardware:cache-references:100", "hardware:cache-misses:100")

EXAMPLES = """\
    bpfscope llcstat              # cache references and misses by process, for 10 s
    bpfscope llcstat 20           # the same for 20 seconds
    bpfscope llcstat -c 1000 5    # sample one in 1000 events, for 5 seconds
    bpfscope llcstat -t           # by thread as well
"""


def parser() -> ToolParser:
    p = ToolParser("llcstat", "Summarize cache references and misses by PID", EXAMPLES)
    p.add_argument("-c", "--sample_period", type=positive_int, default=100, metavar="SAMPLE_PERIOD",
                   help="Sample one in this many number of cache reference / miss events")
    add_flags(p, ("-t", "--tid", "Summarize cache references and misses by PID/TID"))
    add_json(p)
    p.add_argument("duration", nargs="?", type=positive_int, default=10,
                   help="Duration, in seconds, to run")
    return p


def build(opts) -> Plan:
    n = opts.sample_period
    key = "pid, tid, comm, cpu" if opts.tid else "pid, comm, cpu"
    text = (CONFIG
            + f"hardware:cache-references:{n} {{ @ref[{key}] = sum({n}); }}\n"
            + f"hardware:cache-misses:{n} {{ @miss[{key}] = sum({n}); }}\n"
            + f"interval:s:{opts.duration} {{ exit(); }}\n"
            + "END {\n  " + ("" if opts.json else printf("\n")) + "print(@ref); print(@miss);\n}\n")
    def table(refs: dict, misses: dict) -> str:
        if opts.tid:
            out = [f"{'PID':<8} {'TID':<8} {'NAME':<16} {'CPU':<4} {'REFERENCE':>12} "
                   f"{'MISS':>12} {'HIT%':>7}\n"]
        else:
            out = [f"{'PID':<8} {'NAME':<16} {'CPU':<4} {'REFERENCE':>12} {'MISS':>12} "
                   f"{'HIT%':>7}\n"]
        total_ref = total_miss = 0
        for k in sorted(set(refs) | set(misses)):
            ref, miss = refs.get(k, 0), misses.get(k, 0)
            total_ref, total_miss = total_ref + ref, total_miss + miss
            hit = (ref - miss) * 100.0 / ref if ref > miss else 0.0
            ids = f"{k[0]:<8} {k[1]:<8} " if opts.tid else f"{k[0]:<8} "
            out.append(f"{ids}{k[-2]:<16} {k[-1]:<4} {ref:>12} {miss:>12} {hit:>6.2f}%\n")
        rate = (total_ref - total_miss) * 100.0 / total_ref if total_ref > total_miss else 0.0
        out.append(f"Total References: {total_ref} Total Misses: {total_miss} "
                   f"Hit Rate: {rate:.2f}%\n")
        return "".join(out)

    return Plan(text=text, json=opts.json,
                banner=f"Running for {opts.duration} seconds or hit Ctrl-C to end.\n",
                formats=joined(["@ref", "@miss"], table))
