"""Which inlined calls an address is in, and where each was called from.

A stack frame at an address inside inlined code stands for several calls:
``main`` called ``myclock``, which the compiler inlined, so the address is
in ``myclock``'s body *and* in ``main``. :class:`InlineChain` walks the
debug info as :class:`~bpfscope.elf.dwarf.InlineIndex` does and also keeps,
for every ``DW_TAG_inlined_subroutine``, its address ranges
(``DW_AT_low_pc``/``DW_AT_high_pc`` or ``DW_AT_ranges``), its nesting depth
and its call site (``DW_AT_call_file``, a file number of its unit's line
table, ``DW_AT_stmt_list``, and ``DW_AT_call_line``).

:func:`source_frames` turns an address into the frames ``addr2line -i``
prints, innermost first: each inlined function with the source line the
address is at in it (the innermost's line is the line table's, each
other's is the call site of the copy inlined into it), then the line of
the enclosing (real) function, the call site of the outermost copy.
"""

from __future__ import annotations

import bisect
import os
from typing import NamedTuple

from .dwarf import (AT_CALL_FILE, AT_CALL_LINE, AT_HIGH_PC, AT_LOW_PC, AT_RANGES,
                    _CONST, DwarfError, InlineIndex, debug_file)
from .demangle import demangle
from .dwarflines import LineTable
from .reader import ElfError, ElfFile


class InlinedCopy(NamedTuple):
    low: int
    high: int
    depth: int
    origin: int                 # the abstract subprogram's DIE
    call_file: str | None
    call_line: int


class SourceFrame(NamedTuple):
    """One frame of an address: the function (None: the enclosing real
    function, named by the symbol table), whether it was inlined, and the
    source file and line (None, 0 where unknown)."""
    function: str | None
    inlined: bool
    file: str | None
    line: int


class InlineChain(InlineIndex):
    """The inlined copies of one file's debug info with their ranges."""

    def __init__(self, path: str, binary: str | None = None,
                 lines: LineTable | None = None):
        self._copies: list[InlinedCopy] = []
        self._lines = lines
        self._pending: list[tuple] = []
        super().__init__(path, binary)
        for low, high, depth, origin, stmt, cfile, cline in self._pending:
            name = None
            if lines is not None and stmt is not None and cfile is not None:
                name = lines.file_name(stmt, cfile)
            self._copies.append(InlinedCopy(low, high, depth, origin, name, cline))
        self._pending = []
        self._index_copies()

    def _index_copies(self) -> None:
        self._copies.sort()
        self._lows = [c.low for c in self._copies]
        # the widest copy's end up to each index: a lookup stops looking
        # back once no earlier copy can reach the address
        self._reach: list[int] = []
        top = 0
        for c in self._copies:
            top = max(top, c.high)
            self._reach.append(top)

    CACHE_KIND = "chain"

    def cache_state(self):
        kept = super().cache_state()
        if kept is None or self._lines is None:  # call sites without file names
            return None
        kept[0]["copies"] = [tuple(c) for c in self._copies]
        return kept

    def restore_state(self, path, binary, state, lines=None) -> None:
        super().restore_state(path, binary, state)
        self._lines, self._pending = lines, []
        self._copies = [InlinedCopy(*c) for c in state["copies"]]
        self._index_copies()

    def _inlined_copy(self, die, origin, vals, cu, depth) -> None:
        low = self._addr_of(vals.get(AT_LOW_PC), cu)
        pairs: list[tuple[int, int]] = []
        hv = vals.get(AT_HIGH_PC)
        if low is not None and hv is not None:
            form, v = hv
            high = low + v if form in _CONST else self._addr_of(hv, cu)
            if high is not None and high > low:
                pairs.append((low, high))
        elif AT_RANGES in vals:
            form, v = vals[AT_RANGES]
            pairs = self._range_pairs(form, v, cu)
        cf = vals.get(AT_CALL_FILE)
        cl = vals.get(AT_CALL_LINE)
        for lo, hi in pairs:
            self._pending.append((lo, hi, depth, origin, cu.get("stmt_list"),
                                  cf[1] if cf else None, cl[1] if cl else 0))

    def name_of(self, die: int, demangled: bool = True) -> str:
        """The name of subprogram die, through its origin and specification
        chain: its linkage name (demangled unless ``demangled`` is false, as
        the symbol table's names are: 'shop::Cart::add(int)'), else its name
        qualified by its namespaces ('shop::add'), else its bare name when
        the chain leads into a class, which the index skips."""
        name = qual = link = None
        whole = True
        for _ in range(8):
            ent = self.subprograms.get(die)
            if ent is None:
                whole = False
                break
            n, lk, ref, q = ent
            name, qual, link = name or n, qual or q, link or lk
            if ref is None:
                break
            die = ref
        if link:
            return demangle(link) if demangled and link.startswith("_Z") else link
        return (qual if whole else None) or name or "[unknown]"

    def at(self, addr: int) -> list[InlinedCopy]:
        """The inlined copies containing addr, outermost first."""
        i = bisect.bisect_right(self._lows, addr) - 1
        out = []
        while i >= 0 and self._reach[i] > addr:
            c = self._copies[i]
            if c.low <= addr < c.high:
                out.append(c)
            i -= 1
        out.sort(key=lambda c: c.depth)
        return out


class SourceInfo:
    """Line table and inlined copies of one ELF file (its debug file's)."""

    def __init__(self, path: str):
        self.lines = LineTable.cached(path)
        self.chain: InlineChain | None = None
        try:
            with ElfFile(path) as elf:
                dpath = debug_file(elf)
            if dpath is not None:
                self.chain = InlineChain.cached(dpath, path, lines=self.lines)
        except (ElfError, OSError):
            self.chain = None

    @property
    def empty(self) -> bool:
        return not self.lines.has_lines and not (self.chain and self.chain._copies)

    def frames(self, addr: int, demangled: bool = True) -> list[SourceFrame]:
        """The frames of ELF virtual address addr, innermost first; the
        last is the enclosing function's (function None)."""
        here = self.lines.at(addr)
        file, line = here if here else (None, 0)
        copies = self.chain.at(addr) if self.chain is not None else []
        out = []
        for c in reversed(copies):
            out.append(SourceFrame(self.chain.name_of(c.origin, demangled), True,
                                   file, line))
            file, line = c.call_file, c.call_line
        out.append(SourceFrame(None, False, file, line))
        return out


def source_info(path: str) -> SourceInfo | None:
    """The SourceInfo of path, or None when it has no debug info this
    reader can use; cached while the file is the same (device, inode,
    modification time)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_dev, st.st_ino, st.st_mtime_ns)
    if key in _INFO:
        return _INFO[key]
    try:
        info: SourceInfo | None = SourceInfo(path)
        if info.empty:
            info = None
    except (ElfError, DwarfError, OSError):
        info = None
    _INFO[key] = info
    return info


_INFO: dict[tuple, SourceInfo | None] = {}
