"""Pieces of attach-point syntax that several providers share."""

from __future__ import annotations

from ..errors import SemanticError


def to_uint(s: str) -> int | None:
    """A non-negative integer in any base Python reads, or None."""
    try:
        v = int(s, 0)
    except ValueError:
        return None
    return v if v >= 0 else None


def split_offset(func: str, provider: str, ap) -> tuple[str, int]:
    """``name+offset`` -> (name, offset), with bpftrace's errors; return
    probes take no offset."""
    if provider.endswith("retprobe"):
        raise SemanticError("Offset not allowed", ap.span)
    if func.count("+") != 1:
        raise SemanticError("Cannot take more than one offset", ap.span)
    name, off = func.split("+")
    if not name or not off:
        raise SemanticError("Invalid offset", ap.span)
    val = to_uint(off)
    if val is None:
        raise SemanticError(f"Invalid offset: {off}", ap.span)
    return name, val
