"""BEGIN and END: programs that run once, at start and at exit.

They attach nothing: the session runs them with BPF_PROG_TEST_RUN (raw
tracepoint programs, as ply does), BEGIN before any other probe is
attached and END after the last event.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..sema.probes import RUN_ONCE, ExpandedProbe
from .provider import Provider


class RunByTracer(Provider):
    """A probe type whose raw tracepoint programs attach nothing: the
    session runs them itself with BPF_PROG_TEST_RUN, when its
    ``run_once`` says (BEGIN, END, self:signal, bench:). -l lists none."""

    listed = ""
    prog_type = "raw_tracepoint"

    def attach(self, probe, prog_fd):
        return []


class Special(RunByTracer):
    """The provider for "BEGIN" and "END"."""

    names = ("BEGIN", "END")
    aliases = {"begin": "BEGIN", "end": "END"}
    run_once = {"BEGIN": "begin", "END": "end"}

    def expand(self, ap, provider: str, options):
        if len(ap.parts) != 1:
            raise SemanticError(f"{provider} probes take no arguments", ap.span)
        # bpftrace 0.26 names them in lower case (the `probe` builtin gives
        # "begin" for a probe written BEGIN)
        return [ExpandedProbe(provider, provider.lower(), (), None, ap.span, layout=RUN_ONCE)]
