"""printf's ``%gr``: GFP (get free pages) flags as the running kernel names
them, ``GFP_KERNEL|__GFP_NOWARN``.

The names and masks are the kernel's own: the print format of the
kmem:mm_page_alloc (or kmem:kmalloc) tracepoint holds its
show_gfp_flags() table, ``{mask, "NAME"}`` pairs whose masks are constant
C expressions of shifts, ors and complements. The table is read once and
applied as the kernel's __print_flags does: each entry whose bits are all
set is printed and its bits cleared, in the table's order (composite
flags first), and bits left over are printed in hex; no flags print as
``none``."""

from __future__ import annotations

import functools
import os
import re

_EVENTS = ("kmem/mm_page_alloc", "kmem/kmalloc", "kmem/kmem_cache_alloc")
_PAIR = re.compile(r'\{\s*\(\s*unsigned long\s*\)(?P<mask>[^"{}]*?),\s*"(?P<name>\w+)"\s*\}')
_MASK_OK = re.compile(r"[0-9xa-fA-F()|&~<>+\s]*")


def _mask(expr: str) -> int | None:
    """The value of one of the table's masks: casts and integer suffixes
    dropped, what is left only numbers and bit operators."""
    e = re.sub(r"\(\s*(?:gfp_t|unsigned\s+long|unsigned\s+int|int)\s*\)", "", expr)
    e = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", e)
    if not _MASK_OK.fullmatch(e):
        return None
    try:
        v = eval(e, {"__builtins__": {}})   # noqa: S307 - digits and operators only
    except (SyntaxError, TypeError, ValueError):
        return None
    return v & 0xFFFFFFFF if isinstance(v, int) else None


def parse_table(fmt_text: str) -> list[tuple[int, str]]:
    """The (mask, name) pairs of the __print_flags() in a format file."""
    start = fmt_text.find("__print_flags(")
    if start < 0:
        return []
    table = []
    for m in _PAIR.finditer(fmt_text, start):
        mask = _mask(m.group("mask"))
        if mask:
            table.append((mask, m.group("name")))
    return table


@functools.cache
def kernel_table(tracefs: str = "/sys/kernel/tracing") -> tuple[tuple[int, str], ...]:
    for event in _EVENTS:
        try:
            with open(os.path.join(tracefs, "events", event, "format")) as f:
                table = parse_table(f.read())
        except OSError:
            continue
        if table:
            return tuple(table)
    return ()


def gfp_text(flags: int, table=None) -> str:
    """The kernel's text of ``flags``; plain hex when it names none."""
    table = kernel_table() if table is None else table
    flags &= 0xFFFFFFFF
    if flags == 0:
        return "none"
    names = []
    for mask, name in table:
        if flags & mask == mask:
            names.append(name)
            flags &= ~mask
    if flags:
        names.append(hex(flags))
    return "|".join(names)
