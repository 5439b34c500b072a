"""bench:NAME: micro benchmarks, run with ``--mode bench`` (``--bench``).

A bench probe attaches nothing: like BEGIN its program is a raw
tracepoint program the session runs with BPF_PROG_TEST_RUN, here many
times over once every other probe is attached, and the kernel's run-time
accounting (BPF_ENABLE_STATS: each program's run_time_ns and run_cnt)
gives the average time of one run, printed as bpftrace 0.26's
BENCHMARK/NANOSECONDS table (runtime.bench). ``--probe-filter REGEX``
keeps the benchmarks whose name (or whole probe name) it matches. Outside
bench mode bench probes are ignored, as in bpftrace.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..sema.probes import NO_CONTEXT, ExpandedProbe
from .special import RunByTracer


class Bench(RunByTracer):
    """The provider for "bench"."""

    names = ("bench",)
    run_once = {"bench": "bench"}

    def expand(self, ap, provider: str, options):
        if len(ap.parts) != 2 or not ap.parts[1]:
            raise SemanticError("bench probe type requires 1 argument (bench:NAME)", ap.span)
        return [ExpandedProbe("bench", f"bench:{ap.parts[1]}", ("bench", ap.parts[1]), None,
                              ap.span, layout=NO_CONTEXT)]
