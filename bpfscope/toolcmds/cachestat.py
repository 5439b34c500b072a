"""cachestat: page cache hits, misses and dirtied pages, with the hit ratio, each interval.

bcc's cachestat: every ``interval`` seconds (1 by default) one line
``HITS MISSES DIRTIES HITRATIO BUFFERS_MB CACHED_MB`` (``-T``: the time
first), the last two from /proc/meminfo. bcc counts calls of kernel
functions with kprobes (mark_page_accessed, add_to_page_cache_lru, ...);
here the filemap and writeback tracepoints count pages instead:
accesses are the pages reads look up (filemap:mm_filemap_get_pages) and
page faults map (mm_filemap_map_pages, mm_filemap_fault), misses the
pages added to the cache (mm_filemap_add_to_page_cache, by folio size)
outside the write system calls (a write into new pages is no miss: bcc
subtracts the pages dirtied, which large folios make unreliable), and
DIRTIES the folios dirtied (writeback:writeback_dirty_folio). As in bcc,
misses beyond the accesses (read-ahead) count as accesses that all
missed. ``-p`` (bpfscope's own) counts one process's page cache use.
"""

from __future__ import annotations

import time

from .common import (CONFIG, Plan, Record, ToolParser, add_interval_count, add_json, add_pid,
                     add_timestamp, every, joined)

WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
HOOKS = ("tracepoint:filemap:mm_filemap_get_pages", "tracepoint:filemap:mm_filemap_map_pages",
         "tracepoint:filemap:mm_filemap_fault", "tracepoint:filemap:mm_filemap_add_to_page_cache",
         "tracepoint:writeback:writeback_dirty_folio")

EXAMPLES = """\
    bpfscope cachestat             # run with default option of 1 second delay
    bpfscope cachestat -T          # include timestamps
    bpfscope cachestat 5 10        # 5 second summaries, 10 times only
    bpfscope cachestat -p 181      # page cache use of PID 181 only
"""

MAPS = ["@access", "@added", "@dirtied"]


def parser() -> ToolParser:
    p = ToolParser("cachestat", "Count cache kernel function calls", EXAMPLES)
    add_timestamp(p, "include timestamp on output")
    add_pid(p, "count the page cache use of this PID only (not in bcc)")
    add_json(p)
    add_interval_count(p)
    return p


def meminfo_mb(path: str = "/proc/meminfo") -> tuple[int, int]:
    """(Buffers, Cached) in MB."""
    vals = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("Buffers", "Cached"):
                    vals[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return vals.get("Buffers", 0) // 1024, vals.get("Cached", 0) // 1024


def ratio_line(access: int, added: int) -> tuple[int, int, float]:
    """(hits, misses, hit ratio %) as bcc makes them from its counts."""
    total = max(access, 0)
    misses = max(added, 0)
    hits = total - misses
    if hits < 0:           # read-ahead: more pages added than asked for
        total, hits = misses, 0
    return hits, misses, 100.0 * hits / total if total else 0.0


def build(opts) -> Plan:
    if opts.interval is None:
        opts.interval = 1
    pred = f" /pid == {opts.pid}/" if opts.pid else ""
    text = (CONFIG
            + f"tracepoint:filemap:mm_filemap_get_pages,\ntracepoint:filemap:mm_filemap_map_pages"
            + f"{pred} {{\n  @access = sum(args.last_index - args.index + 1);\n}}\n"
            + f"tracepoint:filemap:mm_filemap_fault{pred} {{\n  @access = sum(1);\n}}\n"
            + ",\n".join(f"tracepoint:syscalls:sys_enter_{c}" for c in WRITES)
            + f"{pred} {{\n  @__writing[tid] = 1;\n}}\n"
            + ",\n".join(f"tracepoint:syscalls:sys_exit_{c}" for c in WRITES)
            + f"{pred} {{\n  delete(@__writing[tid]);\n}}\n"
            + f"tracepoint:filemap:mm_filemap_add_to_page_cache{pred} {{\n"
            + "  if (!has_key(@__writing, tid)) { @added = sum(1 << args.order); }\n}\n"
            + f"tracepoint:writeback:writeback_dirty_folio{pred} {{\n  @dirtied = sum(1);\n}}\n")
    rep = " ".join(f"print({m}); clear({m});" for m in MAPS)
    # the first report comes an interval after start: zeros print too
    text += ("BEGIN { @access = sum(0); @added = sum(0); @dirtied = sum(0); }\n"
             + every(opts, rep + " " + " ".join(f"{m} = sum(0);" for m in MAPS))
             + "END {\n  " + rep + " clear(@__writing);\n}\n")

    def one(d: dict) -> int:
        return sum(d.values()) if d else 0

    def row(access: dict, added: dict, dirtied: dict) -> str:
        dirt = one(dirtied)
        hits, misses, pct = ratio_line(one(access), one(added))
        buffers, cached = meminfo_mb()
        stamp = time.strftime("%H:%M:%S ") if opts.timestamp else ""
        return f"{stamp}{hits:8d} {misses:8d} {dirt:8d} {pct:7.2f}% {buffers:12d} {cached:10d}\n"

    header = (f"{'TIME':<8} " if opts.timestamp else "") + \
        f"{'HITS':>8} {'MISSES':>8} {'DIRTIES':>8} {'HITRATIO':>8} {'BUFFERS_MB':>12} " \
        f"{'CACHED_MB':>10}\n"
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header,
                formats=joined(MAPS, row), records={"top": Record((), lambda _: "")})
