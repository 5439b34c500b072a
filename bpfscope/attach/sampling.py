"""Timer and counter probes on perf events: interval, profile, software
and hardware.

interval is a timer on one CPU; the others fire on every online CPU, so
one program is attached to one perf event per CPU. The rate syntax is
shared.
"""

from __future__ import annotations

import errno
import fnmatch
import re

from ..bpf import perf
from ..bpf.consts import PerfHwId, PerfSwId, PerfType
from ..bpf.sys import close_fd
from ..errors import KernelError, SemanticError
from ..sema.probes import PT_REGS, TIMER, ExpandedProbe
from .perfattach import attach_to_perf_event, attach_to_perf_events
from .provider import Provider
from .specs import to_count

UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

# name -> (event id, default sample period), with bpftrace's aliases
SOFTWARE = {
    "cpu-clock": (PerfSwId.CPU_CLOCK, 1_000_000), "cpu": (PerfSwId.CPU_CLOCK, 1_000_000),
    "task-clock": (PerfSwId.TASK_CLOCK, 1_000_000),
    "page-faults": (PerfSwId.PAGE_FAULTS, 100), "faults": (PerfSwId.PAGE_FAULTS, 100),
    "context-switches": (PerfSwId.CONTEXT_SWITCHES, 1_000),
    "cs": (PerfSwId.CONTEXT_SWITCHES, 1_000),
    "cpu-migrations": (PerfSwId.CPU_MIGRATIONS, 1),
    "minor-faults": (PerfSwId.PAGE_FAULTS_MIN, 100),
    "major-faults": (PerfSwId.PAGE_FAULTS_MAJ, 1),
    "alignment-faults": (PerfSwId.ALIGNMENT_FAULTS, 1),
    "emulation-faults": (PerfSwId.EMULATION_FAULTS, 1),
    "dummy": (PerfSwId.DUMMY, 1), "bpf-output": (PerfSwId.BPF_OUTPUT, 1),
}

HARDWARE = {
    "cpu-cycles": (PerfHwId.CPU_CYCLES, 1_000_000), "cycles": (PerfHwId.CPU_CYCLES, 1_000_000),
    "instructions": (PerfHwId.INSTRUCTIONS, 1_000_000),
    "cache-references": (PerfHwId.CACHE_REFERENCES, 1_000_000),
    "cache-misses": (PerfHwId.CACHE_MISSES, 1_000_000),
    "branch-instructions": (PerfHwId.BRANCH_INSTRUCTIONS, 100_000),
    "branches": (PerfHwId.BRANCH_INSTRUCTIONS, 100_000),
    "branch-misses": (PerfHwId.BRANCH_MISSES, 100_000),
    "bus-cycles": (PerfHwId.BUS_CYCLES, 100_000),
    "frontend-stalls": (PerfHwId.STALLED_CYCLES_FRONTEND, 1_000_000),
    "backend-stalls": (PerfHwId.STALLED_CYCLES_BACKEND, 1_000_000),
    "ref-cycles": (PerfHwId.REF_CPU_CYCLES, 1_000_000),
}


def parse_rate(kind: str, parts: list[str], span) -> tuple[str, str, int]:
    """interval/profile rates: ``unit:N``, ``Nunit`` or ``N`` (nanoseconds).
    Returns (unit as written, 'freq' or 'period', number)."""
    if len(parts) == 1:
        m = re.fullmatch(r"(\d+)(s|ms|us|ns|hz)?", parts[0])
        if not m:
            raise SemanticError(f"Invalid rate of {kind} probe: {parts[0]}", span)
        count, unit = m.group(1), m.group(2) or "ns"
    elif len(parts) == 2:
        unit, count = parts
    else:
        raise SemanticError(f"{kind} probe requires a unit and a rate, e.g. {kind}:s:1", span)
    n = to_count(count) or 0
    if n <= 0:
        raise SemanticError(f"Invalid rate of {kind} probe: {count}", span)
    if unit == "hz":
        return unit, "freq", n
    if unit not in UNITS:
        raise SemanticError(f"Invalid unit of {kind} probe: {unit}", span)
    return unit, "period", n * UNITS[unit]


def open_per_cpu(ptype: int, config: int, how: str, n: int, what: str,
                 pid: int = -1) -> list[int]:
    """One perf event per online CPU (counting process ``pid`` alone, as
    bpftrace's -p, or every process: -1); all or none."""
    kw = {"sample_freq": n} if how == "freq" else {"sample_period": n}
    fds: list[int] = []
    try:
        for cpu in perf.online_cpus():
            fds.append(perf.perf_event_open(ptype, config, pid=pid, cpu=cpu, **kw))
    except OSError as e:
        for fd in fds:
            close_fd(fd)
        if ptype == PerfType.HARDWARE and e.errno in (errno.ENOENT, errno.EOPNOTSUPP):
            raise KernelError(f"{what}: this machine has no hardware performance counters "
                              "(no PMU is exposed, as is common in virtual machines); "
                              "use a software event such as software:cpu-clock") from None
        raise
    return fds


class Interval(Provider):
    """interval:s:1, interval:ms:100, interval:hz:5, interval:1s: a timer
    on one CPU (a cpu-clock perf event)."""

    names = ("interval",)
    aliases = {"i": "interval"}
    prog_type = "perf_event"

    def expand(self, ap, provider: str, options):
        unit, how, n = parse_rate("interval", ap.parts[1:], ap.span)
        count = n if how == "freq" else n // UNITS[unit]
        return [ExpandedProbe("interval", f"interval:{unit}:{count}", (how, n), None, ap.span,
                              layout=TIMER)]

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        return list_units("interval", pattern)

    def attach(self, probe, prog_fd):
        how, n = probe.target
        kw = {"sample_freq": n} if how == "freq" else {"sample_period": n}
        pfd = perf.perf_event_open(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK, pid=-1, cpu=0, **kw)
        return attach_to_perf_event(prog_fd, pfd)


RATE_UNITS = ("hz", "ms", "ns", "s", "us")


def _listed(kind: str, entries, pattern: str) -> list[str]:
    """bpftrace's -l lines of a fixed list: ``kind:ENTRY:`` for each entry
    the pattern's first part (after ``kind:``) matches, sorted."""
    glob = pattern.partition(":")[2].split(":", 1)[0] or "*"
    return [f"{kind}:{e}:" for e in sorted(entries, key=lambda e: e + ":")
            if fnmatch.fnmatchcase(e, glob)]


def list_units(kind: str, pattern: str) -> list[str]:
    return _listed(kind, RATE_UNITS, pattern)


def _pid(options) -> int:
    """The process -p/-c names (its events alone are counted), else -1."""
    pid = getattr(options, "pid", None)
    return pid if pid else -1


class _PerCpu(Provider):
    """Attach one program to every CPU's event of ``probe.target``."""

    prog_type = "perf_event"

    def attach(self, probe, prog_fd):
        ptype, config, how, n, *pid = probe.target
        return attach_to_perf_events(prog_fd, open_per_cpu(ptype, config, how, n, probe.name,
                                                           *pid))


class Profile(_PerCpu):
    """profile:hz:99, profile:ms:10, ...: a cpu-clock timer on every CPU."""

    names = ("profile",)
    aliases = {"p": "profile"}

    def expand(self, ap, provider, options):
        unit, how, n = parse_rate("profile", ap.parts[1:], ap.span)
        count = n if how == "freq" else n // UNITS.get(unit, 1)
        return [ExpandedProbe("profile", f"profile:{unit}:{count}",
                              (PerfType.SOFTWARE, PerfSwId.CPU_CLOCK, how, n,
                               _pid(options)), None, ap.span, layout=PT_REGS)]


    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        return list_units("profile", pattern)


class Counter(_PerCpu):
    """software:event[:count] and hardware:event[:count]."""

    def __init__(self, kind: str, ptype: int, events: dict):
        self.kind, self.ptype, self.events = kind, ptype, events
        self.names, self.aliases = (kind,), {kind[0]: kind}

    def expand(self, ap, provider, options):
        parts = ap.parts[1:]
        if not parts or len(parts) > 2:
            raise SemanticError(f"{self.kind} probe requires an event name and an optional "
                                f"count, e.g. {self.kind}:{next(iter(self.events))}:1000", ap.span)
        name = parts[0]
        if name not in self.events:
            raise SemanticError(f"Invalid {self.kind} event: {name}; one of: "
                                + ", ".join(self.events), ap.span)
        config, default = self.events[name]
        count = (to_count(parts[1]) or 0) if len(parts) == 2 and parts[1] else default
        if count <= 0:
            raise SemanticError(f"Invalid count of {self.kind} probe: {parts[1]}", ap.span)
        return [ExpandedProbe(self.kind, f"{self.kind}:{name}:{count}",
                              (self.ptype, config, "period", count, _pid(options)), None,
                              ap.span, layout=PT_REGS)]

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        # every event and alias, as bpftrace lists them
        return _listed(self.kind, self.events, pattern)


PROVIDERS = (Interval(), Profile(), Counter("software", PerfType.SOFTWARE, SOFTWARE),
             Counter("hardware", PerfType.HARDWARE, HARDWARE))
