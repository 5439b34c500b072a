"""Probe providers: expand written attach points, attach loaded programs.

A provider is a small object with ``expand(ap) -> [ExpandedProbe]`` (the
concrete probes an attach point names, wildcards resolved) and
``attach(probe, prog_fd) -> [fd]`` (the kernel objects that keep the
program attached; closing them detaches it). BEGIN and END attach nothing:
the session runs them once with BPF_PROG_TEST_RUN.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bpf import perf
from ..bpf.consts import PerfSwId, PerfType
from ..errors import SemanticError
from ..sema.probes import RECORD, ExpandedProbe
from . import tracefs
from .fallback import FentryOrKprobe, KprobeOrFentry
from .perfattach import attach_to_perf_event
from .rawtracepoint import RawTracepoint
from .tracepoint_args import typed_args
from .uprobe import Uprobe
from .usdt import Usdt
from .sampling import SAMPLING, UNITS, parse_rate

ALIASES = {
    "t": "tracepoint", "i": "interval", "p": "profile", "s": "software",
    "h": "hardware", "k": "kprobe", "kr": "kretprobe", "u": "uprobe",
    "ur": "uretprobe", "U": "usdt", "rt": "rawtracepoint", "f": "fentry",
    "fr": "fexit", "kfunc": "fentry", "kretfunc": "fexit",
    "begin": "BEGIN", "end": "END",
}

LATER = {"watchpoint",
         "asyncwatchpoint", "iter", "self", "tp_btf"}


class Special:
    """BEGIN and END."""

    def expand(self, ap, provider: str, options: ProbeOptions):
        if len(ap.parts) != 1:
            raise SemanticError(f"{provider} probes take no arguments", ap.span)
        return [ExpandedProbe(provider, provider, (), None, ap.span)]

    def attach(self, probe, prog_fd):
        return []


class Tracepoint:
    def expand(self, ap, provider: str, options: ProbeOptions):
        parts = ap.parts[1:]
        if len(parts) != 2:
            raise SemanticError(f"tracepoint probe type requires 2 arguments, found {len(parts)}",
                                ap.span)
        cat, name = parts
        try:
            pairs = tracefs.expand(cat, name)
        except SemanticError as e:
            raise SemanticError(e.message, ap.span) from None
        if not pairs:
            if tracefs.has_wildcard(cat + name):
                raise SemanticError(f"No tracepoints match {ap.raw}", ap.span)
            raise SemanticError(f"tracepoint not found: {cat}:{name}", ap.span)
        out = []
        for c, n in pairs:
            try:
                fmt = tracefs.read_format(c, n)
            except SemanticError as e:
                raise SemanticError(e.message, ap.span) from None
            out.append(ExpandedProbe("tracepoint", f"tracepoint:{c}:{n}", (c, n, fmt.id),
                                     typed_args(fmt), ap.span, layout=RECORD))
        return out

    def attach(self, probe, prog_fd):
        pfd = perf.perf_event_open(PerfType.TRACEPOINT, probe.target[2], pid=-1, cpu=0)
        return attach_to_perf_event(prog_fd, pfd)


class Interval:
    """interval:s:1, interval:ms:100, interval:hz:5, interval:1s: a timer
    on one CPU (a cpu-clock perf event)."""

    def expand(self, ap, provider: str, options: ProbeOptions):
        unit, how, n = parse_rate("interval", ap.parts[1:], ap.span)
        count = n if how == "freq" else n // UNITS[unit]
        return [ExpandedProbe("interval", f"interval:{unit}:{count}", (how, n), None, ap.span)]

    def attach(self, probe, prog_fd):
        how, n = probe.target
        kw = {"sample_freq": n} if how == "freq" else {"sample_period": n}
        pfd = perf.perf_event_open(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK, pid=-1, cpu=0, **kw)
        return attach_to_perf_event(prog_fd, pfd)


PROVIDERS = {"BEGIN": Special(), "END": Special(), "tracepoint": Tracepoint(),
             "interval": Interval(), **SAMPLING,
             "uprobe": Uprobe(), "uretprobe": Uprobe(), "usdt": Usdt(),
             "kprobe": KprobeOrFentry(), "kretprobe": KprobeOrFentry(),
             "fentry": FentryOrKprobe(), "fexit": FentryOrKprobe(), "rawtracepoint": RawTracepoint()}


def provider_name(ap) -> str:
    head = ap.parts[0] if ap.parts else ap.raw
    return ALIASES.get(head, head)


@dataclass(frozen=True)
class ProbeOptions:
    """Command-line choices that change what a probe means: ``pid`` (-p)
    limits user-space probes to one process; ``cmd`` is the path of the -c
    program (its child's pid is ``pid``, but the child runs the program
    only once the probes are attached); ``inlined`` (--uprobe-inlined)
    also puts uprobes on a function's inlined copies; ``unsafe`` (--unsafe)
    lets uprobes sit inside an instruction or on one the kernel mishandles."""
    pid: int | None = None
    inlined: bool = False
    cmd: str | None = None
    unsafe: bool = False


def expand(ap, options: ProbeOptions = ProbeOptions()) -> list[ExpandedProbe]:
    """The expander handed to sema: one written attach point -> probes."""
    name = provider_name(ap)
    prov = PROVIDERS.get(name)
    if prov is None:
        if name in LATER:
            raise SemanticError(f"{name} probes are not supported yet", ap.span)
        raise SemanticError(f"Invalid probe type: {name}", ap.span)
    return prov.expand(ap, name, options)


def expander(options: ProbeOptions):
    return lambda ap: expand(ap, options)


def attach(probe: ExpandedProbe, prog_fd: int) -> list[int]:
    return PROVIDERS[probe.provider].attach(probe, prog_fd)


def missed(probe: ExpandedProbe, fds: list[int]) -> int | None:
    """Hits the kernel hook of an attached probe missed (kprobes' nmissed),
    None where the probe type or the kernel does not count them."""
    count = getattr(PROVIDERS[probe.provider], "missed", None)
    return count(probe, fds) if count is not None else None
