"""Pieces of attach-point syntax that several providers share."""

from __future__ import annotations

import re

from ..errors import SemanticError
from ..lang.lexer import parse_int_literal


def to_uint(s: str) -> int | None:
    """A non-negative integer in any base Python reads, or None."""
    try:
        v = int(s, 0)
    except ValueError:
        return None
    return v if v >= 0 else None


def to_count(s: str) -> int | None:
    """A probe's count or rate (``software:cpu:1e6``, ``interval:ms:1_000``):
    bpftrace 0.26 reads these as it reads integer literals, so the
    scientific form counts too."""
    v = to_uint(s)
    if v is None and re.fullmatch(r"[0-9]+[eE][0-9]+", s):
        try:
            v = parse_int_literal(s)
        except ValueError:
            return None
    return v


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
