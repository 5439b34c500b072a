"""self:signal:SIGUSR1: a probe the tracer fires itself, each time its own
process receives SIGUSR1 (bpftrace 0.26's signal-handling probe).

It attaches nothing: like BEGIN and END its program is a raw tracepoint
program that the session runs with BPF_PROG_TEST_RUN, here from its event
loop once the signal has come (not inside the Python signal handler, so a
record being printed is never interrupted). SIGUSR1 is the one signal
bpftrace 0.26 has such probes for.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..sema.probes import NO_CONTEXT, ExpandedProbe
from .special import RunByTracer

SIGNALS = ("SIGUSR1",)


class SelfProbe(RunByTracer):
    """The provider for "self"."""

    names = ("self",)
    run_once = {"self": "signal"}

    def expand(self, ap, provider: str, options):
        parts = ap.parts
        if len(parts) != 3:
            raise SemanticError("self probe type requires 2 arguments (self:signal:SIGUSR1)",
                                ap.span)
        if parts[1] != "signal":
            raise SemanticError(f"Invalid self probe type: {parts[1]} (signal is the only one)",
                                ap.span)
        if parts[2] not in SIGNALS:
            raise SemanticError(f"Invalid signal for a self probe: {parts[2]} "
                                f"(supported: {', '.join(SIGNALS)})", ap.span)
        return [ExpandedProbe("self", ":".join(parts), ("signal", parts[2]), None, ap.span,
                              layout=NO_CONTEXT)]
