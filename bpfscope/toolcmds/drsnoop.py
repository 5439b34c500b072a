"""drsnoop: trace direct page reclaim: the task that waited, how long and how many pages it freed.

bcc's drsnoop: one line per direct reclaim when it ends, ``COMM PID LAT(ms)
PAGES`` (``TID`` with ``-t``), after ``TIME(s)`` (seconds since the first
event) with ``-T`` and ``UID`` with ``-U``. The hooks are the
vmscan:mm_vmscan_direct_reclaim_begin/_end tracepoints, matched by thread.

Unlike bcc's, it also reports memory-cgroup reclaim
(vmscan:mm_vmscan_memcg_reclaim_begin/_end): a task charging pages to a
cgroup at its limit (memory.max, memory.high, v1's memory.limit_in_bytes)
reclaims from that cgroup itself and stalls just as in global direct
reclaim, and in containers that is the kind that happens; the global
tracepoints never fire for it. ``--no-memcg`` keeps to bcc's global
reclaim only. The text line is bcc's either way; the JSON record's
``kind`` says which ("direct" or "memcg").
``-v`` adds the free memory when the reclaim began, read from the kernel's
``vm_zone_stat`` counters; that needs the symbol's address in
/proc/kallsyms (CONFIG_KALLSYMS_ALL), as in bcc.
"""

from __future__ import annotations

import os

from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_duration, add_json,
                     add_timestamp, positive_int, record)

# (kind, tracepoint prefix): a reclaim's begin and end are <prefix>_begin/_end
KINDS = (("direct", "tracepoint:vmscan:mm_vmscan_direct_reclaim"),
         ("memcg", "tracepoint:vmscan:mm_vmscan_memcg_reclaim"))

EXAMPLES = """\
    bpfscope drsnoop           # trace all direct reclaim
    bpfscope drsnoop -T        # include timestamps
    bpfscope drsnoop -U        # include UID
    bpfscope drsnoop -p 181    # only trace PID 181
    bpfscope drsnoop -t 123    # only trace TID 123
    bpfscope drsnoop -u 1000   # only trace UID 1000
    bpfscope drsnoop -d 10     # trace for 10 seconds only
    bpfscope drsnoop -n main   # only print process names containing "main"
"""


def parser() -> ToolParser:
    p = ToolParser("drsnoop", "Trace direct reclaim", EXAMPLES)
    add_timestamp(p)
    p.add_argument("-U", "--print-uid", action="store_true", help="print UID column")
    p.add_argument("-p", "--pid", type=positive_int, help="trace this PID only")
    p.add_argument("-t", "--tid", type=positive_int, help="trace this TID only")
    p.add_argument("-u", "--uid", type=int, help="trace this UID only")
    add_duration(p)
    p.add_argument("-n", "--name", help="only print process names containing this name")
    p.add_argument("-v", "--verbose", action="store_true", help="show system memory state")
    p.add_argument("--no-memcg", action="store_true",
                   help="global direct reclaim only, as bcc (no cgroup-limit reclaim)")
    add_json(p)
    return p


def kallsyms_has(name: str, path: str = "/proc/kallsyms") -> bool:
    """Whether ``name`` has an address in /proc/kallsyms (data symbols are
    there only with CONFIG_KALLSYMS_ALL)."""
    try:
        with open(path) as f:
            return any(line.split()[2:3] == [name] for line in f)
    except OSError:
        return False


def build(opts) -> Plan:
    if opts.verbose and not kallsyms_has("vm_zone_stat"):
        raise ToolError("-v needs vm_zone_stat in /proc/kallsyms; "
                        "this kernel is built without CONFIG_KALLSYMS_ALL")
    conds = []
    if opts.tid:        # the thread wins over the process, as in bcc
        conds.append(f"tid == {opts.tid}")
    elif opts.pid:
        conds.append(f"pid == {opts.pid}")
    if opts.uid is not None:
        conds.append(f"uid == {opts.uid}")
    pred = f" /{' && '.join(conds)}/" if conds else ""
    kinds = KINDS[:1] if opts.no_memcg else KINDS
    text = CONFIG
    # one start map per kind: the two never nest today, but if a memcg
    # charge ever ran inside a global reclaim its end must not close the other
    for n, (kind, hook) in enumerate(kinds):
        start, free = f"@__start{n}[tid]", f"@__free{n}[tid]"
        values = [("%llu", "nsecs"), ("%s", "comm"), ("%d", "pid"), ("%d", "tid"),
                  ("%d", "uid"), ("%llu", f"nsecs - {start}"), ("%llu", "args.nr_reclaimed"),
                  ("%lld", free if opts.verbose else "0"), ("%s", f'"{kind}"')]
        text += (f"{hook}_begin{pred} {{\n  {start} = nsecs;\n"
                 + (f'  {free} = *(int64 *)kaddr("vm_zone_stat");\n' if opts.verbose else "")
                 + f"}}\n{hook}_end /has_key(@__start{n}, tid)/ {{\n"
                 + "  " + record("dr", values) + "\n"
                 + f"  delete({start});" + (f" delete({free});" if opts.verbose else "")
                 + "\n}\n")
    if opts.duration:
        text += f"interval:s:{opts.duration} {{ exit(); }}\n"
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    first = []

    def line(v: dict) -> str:
        if opts.name and opts.name not in v["comm"]:
            return ""
        if not first:
            first.append(v["ts"])
        out = f"{(v['ts'] - first[0]) / 1e9:<14.9f}" if opts.timestamp else ""
        if opts.print_uid:
            out += f"{v['uid']:<6d}"
        out += (f"{v['comm'][:14]:<14} {v['tid'] if opts.tid else v['pid']:<6} "
                f"{v['lat_ns'] / 1e6:8.2f} {v['pages']:5d}")
        if opts.verbose:
            out += f"{v['free_pages'] * page_kb:10d}"
        return out + "\n"

    header = f"{'TIME(s)':<14}" if opts.timestamp else ""
    if opts.print_uid:
        header += f"{'UID':<6}"
    header += f"{'COMM':<14} {'TID' if opts.tid else 'PID':<6} {'LAT(ms)':>8} {'PAGES':>5}"
    header += f"{'FREE(KB)':>10}\n" if opts.verbose else "\n"
    # -p: the trace ends with the process
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header,
                records={"dr": Record(("ts#", "comm", "pid#", "tid#", "uid#", "lat_ns#",
                                       "pages#", "free_pages#", "kind"), line)})
