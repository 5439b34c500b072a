"""uaddr("sym"): where a symbol of the probed file is at run time.

bpftrace 0.26's rules: only in uprobe, uretprobe and usdt probes; the
symbol is looked up (at compile time) in the file the probe is on; the
value is a user-space pointer whose target type follows the symbol's size
(1, 2, 4, 8 bytes: uint8..uint64; anything else: uint64).

A fixed-address executable (ET_EXEC) holds the symbol where its symbol
table says. A position-independent file (PIE, shared library) is moved by
a load bias that differs from process to process, so the address is
computed as the probe runs: where the instruction pointer is at the probed
instruction (uprobe, usdt), ``ip - site + symbol``; in a uretprobe the
instruction pointer is the caller's return address and says nothing about
the file, so the bias must be known before running (from the mappings of
the -p process).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..elf import ElfError, table_of
from ..errors import SemanticError, Span
from . import types as T
from .probes import ExpandedProbe

USER_PROBES = ("uprobe", "uretprobe", "usdt")
_WIDTHS = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}


@dataclass(frozen=True)
class UserAddress:
    """How the code generator makes the value: ``base`` 'abs' is the
    constant ``value``; 'ip' is the probe's instruction pointer + ``value``."""
    base: str
    value: int
    type: T.PointerType


def resolve(probe: ExpandedProbe, name: str, span: Span | None) -> UserAddress:
    if probe.provider not in USER_PROBES:
        raise SemanticError(f'uaddr can not be used with "{probe.provider}" probes', span)
    try:
        sym = table_of(probe.binary).lookup_one(name, functions_only=False)
    except ElfError:
        sym = None
    if sym is None:
        raise SemanticError(f"Could not resolve symbol: {probe.binary}:{name}", span)
    ptr = T.PointerType(target=_WIDTHS.get(sym.size, "uint64"), user=True)
    if probe.site_vaddr is not None and probe.load_bias != 0:
        return UserAddress("ip", sym.value - probe.site_vaddr, ptr)
    if probe.load_bias is not None:
        return UserAddress("abs", sym.value + probe.load_bias, ptr)
    raise SemanticError(
        f"uaddr(\"{name}\"): {probe.binary} is position independent, so where "
        f"{name} is depends on the process; in a uretprobe that is only known "
        f"for a running process: trace it with -p PID, or use uaddr() in a "
        f"uprobe", span)
