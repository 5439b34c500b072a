"""watchpoint:ADDR:LEN:MODE and asyncwatchpoint:ADDR:LEN:MODE (w, aw):
hardware breakpoints on memory.

ADDR is an absolute address (hex or decimal); LEN is 1, 2, 4 or 8 bytes;
MODE is what fires the probe: ``r`` read, ``w`` write, ``x`` execute, in
the combinations the CPU allows (``w``, ``rw``, ``x``; x86 has no
read-only breakpoint). With ``-p PID`` or ``-c CMD`` the address is one of
that process (a user-space watchpoint, ``user`` pointers); without, a
kernel address, watched on every online CPU. The -c child is watched
from its exec of the command on (enable_on_exec): before, it is still a
copy of the tracer, whose own writes would count.

Each is a perf event of type PERF_TYPE_BREAKPOINT (bp_type, bp_addr,
bp_len; sample period 1) with a perf_event program attached; the program's
context starts with the pt_regs of the access, so arg0..N, reg() and the
stacks read as in a kprobe. The CPU has few debug registers (x86: 4); a
machine that exposes none (some virtual machines) is told so in one
sentence when attaching.

bpftrace's other form, ``watchpoint:FUNC+argN:LEN:MODE`` (watch the
address in argN when FUNC is entered, stopping the tracee meanwhile for
the synchronous kind), is not supported yet: it says so at its place.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass

from ..bpf import perf
from ..bpf.consts import PerfAttrFlag, PerfType
from ..bpf.sys import close_fd
from ..errors import KernelError, SemanticError
from ..sema.probes import PT_REGS, USER_REGS, ExpandedProbe
from .perfattach import attach_to_perf_events
from .provider import Provider

# HW_BREAKPOINT_R, _W, _X (linux/hw_breakpoint.h)
MODE_BITS = {"r": 1, "w": 2, "x": 4}
LENGTHS = (1, 2, 4, 8)


@dataclass(frozen=True)
class WatchTarget:
    addr: int
    length: int
    bp_type: int
    pid: int | None     # None: a kernel address, on every CPU
    on_exec: bool = False   # the -c child, not yet exec'd: watch from its exec on


def parse_mode(mode: str, span) -> int:
    if not mode or any(c not in MODE_BITS for c in mode) or len(set(mode)) != len(mode):
        raise SemanticError("watchpoint mode must be combination of (r,w,x)", span)
    bits = sum(MODE_BITS[c] for c in mode)
    if bits & MODE_BITS["x"] and bits != MODE_BITS["x"]:
        raise SemanticError("watchpoint mode x cannot be combined with r or w", span)
    return bits


def parse_spec(ap, provider: str, pid: int | None, on_exec: bool = False) -> WatchTarget:
    parts = ap.parts
    if len(parts) != 4:
        raise SemanticError(f"{provider} probe type requires 3 arguments "
                            f"({provider}:ADDRESS:LENGTH:MODE)", ap.span)
    addr_text, length_text, mode = parts[1:]
    if re.fullmatch(r"[A-Za-z_]\w*\+arg\d+", addr_text):
        raise SemanticError(f"{provider} on a function's argument ({addr_text}) is not "
                            "supported yet; give an absolute address", ap.span)
    try:
        addr = int(addr_text, 0)
    except ValueError:
        raise SemanticError(f"Invalid {provider} address: {addr_text}", ap.span) from None
    try:
        length = int(length_text, 0)
    except ValueError:
        length = 0
    if length not in LENGTHS:
        raise SemanticError("watchpoint length must be one of (1,2,4,8)", ap.span)
    if addr % length:
        raise SemanticError(f"watchpoint address {addr_text} is not aligned to its "
                            f"length ({length})", ap.span)
    return WatchTarget(addr, length, parse_mode(mode, ap.span), pid, on_exec and pid is not None)


def open_events(t: WatchTarget, what: str) -> list[int]:
    """The breakpoint perf events of ``t`` (one, or one per CPU); all or none."""
    where = [(t.pid, -1)] if t.pid is not None else [(-1, c) for c in perf.online_cpus()]
    fds: list[int] = []
    try:
        for pid, cpu in where:
            fds.append(perf.perf_event_open(
                PerfType.BREAKPOINT, 0, sample_period=1, pid=pid, cpu=cpu,
                bp_type=t.bp_type, config1=t.addr, config2=t.length, disabled=t.on_exec,
                attr_flags=PerfAttrFlag.ENABLE_ON_EXEC if t.on_exec else 0))
    except OSError as e:
        for fd in fds:
            close_fd(fd)
        if e.errno in (errno.ENODEV, errno.ENOENT, errno.EOPNOTSUPP):
            raise KernelError(f"{what}: this machine has no hardware breakpoints (its CPU "
                              "exposes no debug registers, as in some virtual "
                              "machines)") from None
        if e.errno == errno.ENOSPC:
            raise KernelError(f"{what}: no free hardware breakpoint (the CPU's debug "
                              "registers are all in use)") from None
        raise
    return fds


class Watchpoint(Provider):
    """The provider for "watchpoint" and "asyncwatchpoint"."""

    names = ("watchpoint", "asyncwatchpoint")
    aliases = {"w": "watchpoint", "aw": "asyncwatchpoint"}
    prog_type = "perf_event"
    listed = ""   # nothing to list: any address

    def expand(self, ap, provider: str, options):
        t = parse_spec(ap, provider, options.pid, on_exec=bool(options.cmd))
        mode = "".join(c for c in "rwx" if t.bp_type & MODE_BITS[c])
        name = f"{provider}:0x{t.addr:x}:{t.length}:{mode}"
        return [ExpandedProbe(provider, name, t, None, ap.span,
                              layout=USER_REGS if t.pid is not None else PT_REGS)]

    def attach(self, probe, prog_fd):
        t = probe.target
        return attach_to_perf_events(prog_fd, open_events(t, probe.name), enable=not t.on_exec)
