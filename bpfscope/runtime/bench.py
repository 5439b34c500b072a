"""Running bench: probes (``--mode bench``): each program is run RUNS times
with BPF_PROG_TEST_RUN while the kernel accounts programs' run time
(BPF_ENABLE_STATS); its run_time_ns / run_cnt is the average of one run,
the time of the program itself, without the system call around it.
"""

from __future__ import annotations

import re

from ..bpf.prog import enable_stats, prog_info, prog_test_run
from ..bpf.sys import close_fd

RUNS = 10_000


def selected(benches: list[tuple[str, str, int]], pattern: str | None
             ) -> list[tuple[str, str, int]]:
    """(benchmark name, probe name, fd) kept by --probe-filter's regex,
    which may match either name."""
    if pattern is None:
        return benches
    rx = re.compile(pattern)
    return [b for b in benches if rx.search(b[0]) or rx.search(b[1])]


def measure(benches: list[tuple[str, str, int]], runs: int = RUNS) -> list[tuple[str, int]]:
    """(benchmark name, average nanoseconds per run), sorted by name as
    bpftrace prints them."""
    stats = enable_stats()
    try:
        out = []
        for name, _, fd in benches:
            before = prog_info(fd)
            prog_test_run(fd, repeat=runs)
            after = prog_info(fd)
            n = after.run_cnt - before.run_cnt
            out.append((name, (after.run_time_ns - before.run_time_ns) // n if n else 0))
    finally:
        close_fd(stats)
    return sorted(out)


def table(results: list[tuple[str, int]]) -> str:
    """bpftrace 0.26's text table of benchmark results."""
    heads = ("BENCHMARK", "NANOSECONDS")
    rows = [(name, str(ns)) for name, ns in results]
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
         for i, h in enumerate(heads)]
    line = "+" + "+".join("-" * (n + 2) for n in w) + "+\n"

    def row(cells):
        return "|" + "|".join(f" {c:<{n}} " for c, n in zip(cells, w)) + "|\n"
    return line + row(heads) + line + "".join(row(r) for r in rows) + line
