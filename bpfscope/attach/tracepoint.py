"""tracepoint: the kernel's static trace events (tracefs events/CAT/NAME).

``tracepoint:CAT:NAME`` with globs in either part; ``args`` are the
fields of the event's record as its tracefs format file gives them, typed
from BTF where the kernel has it (tracepoint_args.py). A program is a
tracepoint program attached to a perf event of the event's id on CPU 0
(a tracepoint event fires on every CPU).
"""

from __future__ import annotations

import os

from ..bpf import perf
from ..bpf.consts import PerfType
from ..errors import MissingProbe, MissingTracepoint, SemanticError
from ..sema.probes import RECORD, ExpandedProbe
from . import tracefs
from .perfattach import attach_to_perf_event
from .provider import Provider

EVENTS_DIR = "/sys/kernel/tracing/events"


def _typed_args(fmt):
    # imported on first use: it reads BTF, which a compile the cache holds
    # never needs
    from .tracepoint_args import typed_args
    return typed_args(fmt)


class Tracepoint(Provider):
    """The provider for "tracepoint"."""

    names = ("tracepoint",)
    aliases = {"t": "tracepoint"}
    prog_type = "tracepoint"

    def expand(self, ap, provider: str, options):
        parts = ap.parts[1:]
        if len(parts) != 2:
            raise SemanticError(f"tracepoint probe type requires 2 arguments, found {len(parts)}",
                                ap.span)
        cat, name = parts
        try:
            pairs = tracefs.expand(cat, name)
        except SemanticError as e:
            raise type(e)(e.message, ap.span) from None
        if not pairs:
            if tracefs.has_wildcard(cat + name):
                raise MissingProbe(f"No tracepoints match {ap.raw}", ap.span)
            raise MissingTracepoint(f"tracepoint not found: {cat}:{name}",
                                    f"tracepoint:{cat}:{name}", ap.span)
        out = []
        for c, n in pairs:
            try:
                fmt = tracefs.read_format(c, n)
            except SemanticError as e:
                raise SemanticError(e.message, ap.span) from None
            out.append(ExpandedProbe("tracepoint", f"tracepoint:{c}:{n}", (c, n, fmt.id),
                                     _typed_args(fmt), ap.span, layout=RECORD))
        return out

    def attach(self, probe, prog_fd):
        pfd = perf.perf_event_open(PerfType.TRACEPOINT, probe.target[2], pid=-1, cpu=0)
        return attach_to_perf_event(prog_fd, pfd)

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        # the registry routed it here by its first word, our name or alias
        rest = pattern.partition(":")[2]
        return tracefs.format_listing(rest, verbose=verbose).splitlines()

    def info(self) -> list[tuple[str, str]]:
        return [("tracepoint", "yes" if os.path.exists(EVENTS_DIR) else "no")]
