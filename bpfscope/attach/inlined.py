"""Is a uprobe's function all there? Inlined copies and compiler-split parts.

A uprobe on ``compute`` fires when the out-of-line copy of compute runs.
Two compiler habits hide calls from it:

* inlining: the body of compute is copied into its callers; those calls
  never reach the symbol. DWARF says where (``DW_TAG_inlined_subroutine``
  entries, read by :mod:`bpfscope.elf.dwarf`); without debug info we can
  only say that we cannot tell;
* splitting: GCC moves part of a function elsewhere (``work.cold``,
  ``work.part.0``) or clones it (``work.isra.0``, ``work.constprop.0``);
  the symbol table shows those.

Without debug info the check says it cannot tell, but only for files that
show signs of optimization (split or cloned functions in the symbol table),
so probes on -O0 programs and stripped distro libraries stay quiet.

:func:`check_function` returns the warnings for one function (the uprobe
provider prints each with ``WARNING:`` once); :func:`inline_sites` gives
the addresses of the inlined copies for ``--uprobe-inlined``. Debug info is
parsed only when a probe's file has it, once per file (cached by path and
inode).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..elf import ElfError, SymbolTable, demangle
from ..elf.dwarf import InlineIndex, debug_file
from ..elf.inlinesites import NameIndex, index_for

# Clone kinds that are the same code at the same address: nothing missed.
_SAME_CODE = ("localalias",)
MAX_LISTED = 8


class Site(NamedTuple):
    """One inlined copy: its entry address and the function holding it."""
    addr: int
    caller: str


class NoDebugInfo(NamedTuple):
    """Why inlining cannot be checked."""
    reason: str


_indexes: dict[str, tuple[tuple, InlineIndex | NameIndex | NoDebugInfo]] = {}


def _identity(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def index_of(path: str, st: SymbolTable | None = None) -> InlineIndex | NameIndex | NoDebugInfo:
    """The (cached) inline index of path's debug info, or why there is none;
    for most files one that walks only the units a function asked about
    may be in (elf.inlinesites)."""
    ident = _identity(path)
    hit = _indexes.get(path)
    if hit is not None and hit[0] == ident:
        return hit[1]
    try:
        elf = st.elf if st is not None else None
        if elf is None:
            from ..elf import ElfFile
            with ElfFile(path) as e:
                dbg = debug_file(e)
        else:
            dbg = debug_file(elf)
        if dbg is None:
            res: InlineIndex | NameIndex | NoDebugInfo = NoDebugInfo(
                f"{path} has no debug info")
        else:
            res = index_for(dbg, binary=path)
            if res.missing_alt is not None:
                res = NoDebugInfo(f"its dwz supplementary file {res.missing_alt} "
                                  "is not found")
            elif res.skeletons and len(res.missing_dwo) == len(res.skeletons):
                res = NoDebugInfo(f"its split DWARF ({res.missing_dwo[0]}"
                                  f"{' ...' if len(res.missing_dwo) > 1 else ''}) "
                                  "is not found")
    except ElfError as e:
        res = NoDebugInfo(f"its debug info cannot be read: {e}")
    _indexes[path] = (ident, res)
    return res


def forget(path: str) -> None:
    """Drop the cached index of path (it was replaced)."""
    _indexes.pop(path, None)


def inline_sites(path: str, func: str, st: SymbolTable) -> list[Site] | None:
    """The inlined copies of func in path, sorted by address; None when
    the file has no (readable) debug info."""
    idx = index_of(path, st)
    if isinstance(idx, NoDebugInfo):
        return None
    out = []
    for s in idx.sites(func):
        hit = st.lookup_addr(s.addr)
        out.append(Site(s.addr, demangle(hit.name) if hit else "?"))
    return out


def split_parts(st: SymbolTable, func: str) -> list[str]:
    """Names of func's compiler-split parts and clones that hold code of
    their own (not aliases at func's address)."""
    own = st.lookup_one(func)
    start = own.value if own is not None else None
    return sorted({p.name for p in st.parts_of(func)
                   if p.value != start and not p.name.endswith(_SAME_CODE)})


def looks_optimized(st: SymbolTable) -> bool:
    """Does the symbol table show an optimizing compiler at work (split or
    cloned functions: only GCC/clang -O1 and up make them)? Without debug
    info this is the evidence that inlining may hide calls; a file without
    it (-O0, or only .dynsym: a distro library's exported functions) gets no
    "cannot tell" warning, which would otherwise come with every probe."""
    return any(not p.name.endswith(_SAME_CODE)
               for parts in st.split_parts().values() for p in parts)


def describe_sites(sites: list[Site]) -> str:
    """'2 callers (main at 0x10f0, run at 0x1270)'."""
    callers = sorted({s.caller for s in sites})
    listed = ", ".join(f"{s.caller} at {s.addr:#x}" for s in sites[:MAX_LISTED])
    if len(sites) > MAX_LISTED:
        listed += f", and {len(sites) - MAX_LISTED} more"
    n = len(callers)
    head = f"{n} caller{'s' if n != 1 else ''}"
    if len(sites) != n:
        head = f"{len(sites)} places in {head}"
    return f"{head} ({listed})"


def check_function(path: str, func: str, st: SymbolTable | None = None,
                   inlined: bool = False) -> list[str]:
    """Warnings (without the 'WARNING: ' prefix) for a uprobe on func in
    path; ``inlined``: the probe also goes to the inlined copies
    (--uprobe-inlined), which changes the advice."""
    if st is None:
        st = SymbolTable(path)
    out = []
    parts = split_parts(st, func)
    if parts:
        out.append(f"{func} has compiler-split parts ({', '.join(parts)}): code in "
                   f"them runs outside {func} and a probe on {func} does not see it")
    sites = inline_sites(path, func, st)
    if sites is None:
        if looks_optimized(st):
            reason = index_of(path, st).reason
            out.append(f"cannot tell whether {func} is inlined: {reason}")
        return out
    if not sites:
        return out
    where = describe_sites(sites)
    has_copy = st.lookup_one(func) is not None
    if inlined:
        out.append(f"{func} is inlined into {where}: probing those copies too; "
                   f"arguments (arg0..argN) are not reliable at inlined sites")
    elif has_copy:
        out.append(f"{func} is inlined into {where}: a probe on {func} fires only "
                   f"for calls that were not inlined (--uprobe-inlined probes the "
                   f"inlined copies too)")
    else:
        out.append(f"{func} has no out-of-line copy in {path}: it is inlined into "
                   f"{where}, so a probe on it would never fire (--uprobe-inlined "
                   f"probes the inlined copies)")
    return out
