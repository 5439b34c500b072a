"""Symbol lookup for one ELF file: by name, by glob, by address.

:class:`SymbolTable` merges ``.symtab`` and ``.dynsym`` (a stripped library
has only the latter; an unstripped one has both, mostly duplicated), and
builds two indexes on first use (a stripped file's ``.symtab`` is read from
its separate debug file, :mod:`bpfscope.elf.debugfile`):

* name -> symbols (several: versioned libc symbols, static functions of the
  same name in different files);
* an address-sorted array of function/object starts, searched with
  ``bisect``; a prefix maximum of end addresses bounds the backward walk
  when symbols nest or overlap, so "which symbol contains this address" is
  exact and O(log n) in the usual case.

Compiler-split functions (GCC's ``foo.part.0``, ``foo.cold``,
``foo.isra.0``, ``foo.constprop.0``, ``foo.lto_priv.0``; clang's
``foo.llvm.123``) are recognised by :func:`split_function_name` and grouped
with their parent: ``uprobe:bin:foo`` tracing only ``foo`` misses the work
done in ``foo.part.0``, so the tracer can offer the parts.
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from typing import Iterable, NamedTuple

from . import debugfile
from .debugfile import find_debug_file
from .reader import ElfError, ElfFile, Symbol

# Types that name code or data at an address (SECTION/FILE/TLS do not).
_ADDR_TYPES = frozenset(("FUNC", "IFUNC", "OBJECT", "NOTYPE"))
FUNC_TYPES = frozenset(("FUNC", "IFUNC"))

# One or more compiler clone suffixes at the end of a name. GCC writes
# "<name>.<kind>[.<n>]" and may stack them ("f.constprop.0.isra.0.cold").
_SPLIT_RE = re.compile(
    r"^(?P<base>.+?)(?P<suffix>(?:\.(?:part|isra|constprop|lto_priv|cold|"
    r"clone|localalias|llvm|specialized)(?:\.[0-9A-Za-z_]+)?)+)$")
_SPLIT_KINDS = ("part", "isra", "constprop", "lto_priv", "cold", "clone",
                "localalias", "llvm", "specialized")


class SymbolAt(NamedTuple):
    """Result of an address lookup: the symbol and the offset into it."""

    symbol: Symbol
    offset: int

    @property
    def name(self) -> str:
        return self.symbol.name

    def format(self, with_offset: bool = True) -> str:
        """'name+0x1a', or 'name' at offset 0 or when with_offset is False
        (the forms bpftrace's usym / ustack print)."""
        if with_offset and self.offset:
            return f"{self.symbol.name}+{self.offset}"
        return self.symbol.name


def split_function_name(name: str) -> tuple[str, list[str]] | None:
    """('foo', ['part', 'cold']) for 'foo.part.0.cold'; None if name has no
    compiler clone suffix."""
    m = _SPLIT_RE.match(name)
    if not m:
        return None
    kinds = [k for k in m.group("suffix").split(".") if k in _SPLIT_KINDS]
    return m.group("base"), kinds


class SymbolTable:
    """All symbols of one ELF file, indexed for the tracer's lookups."""

    def __init__(self, path_or_elf: str | ElfFile):
        if isinstance(path_or_elf, ElfFile):
            self.elf = path_or_elf
        else:
            self.elf = ElfFile(path_or_elf)
        self.path = self.elf.path
        # the separate debug file the .symtab came from, once read
        self.debug_path: str | None = None
        self._all: list[Symbol] | None = None
        self._by_name: dict[str, list[Symbol]] | None = None
        self._starts: list[int] | None = None
        self._sorted: list[Symbol] = []
        self._maxend: list[int] = []
        self._splits: dict[str, list[Symbol]] | None = None

    def close(self) -> None:
        self.elf.close()

    def __enter__(self) -> "SymbolTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the merged list ----------------------------------------------------

    @property
    def symbols(self) -> list[Symbol]:
        """Defined symbols, .symtab first, .dynsym entries that duplicate a
        .symtab one (same name and address) dropped; an unversioned .symtab
        entry takes the version of its .dynsym twin."""
        if self._all is None:
            st = [s for s in self._symtab() if s.shndx and s.name
                  and s.type in _ADDR_TYPES]
            dynsym = [s for s in self.elf.symbols(".dynsym") if s.shndx and s.name
                      and s.type in _ADDR_TYPES]
            versions = {(s.name, s.value): s for s in dynsym if s.version}
            if versions:
                st = [_with_version(s, versions.get((s.name, s.value)))
                      if not s.version else s for s in st]
            seen = {(s.name, s.value) for s in st}
            dyn = [s for s in dynsym if (s.name, s.value) not in seen]
            self._all = st + dyn
        return self._all

    def _symtab(self) -> list[Symbol]:
        """The file's .symtab; a stripped file's comes from its separate
        debug file (same addresses; offsets stay the original's), else
        from its MiniDebugInfo."""
        if self.elf.has_symtab:
            syms = self.elf.symbols(".symtab")
        else:
            syms = self._debug_symtab()
        return [_versioned(s) if "@" in s.name else s for s in syms]

    def _debug_symtab(self) -> list[Symbol]:
        path = find_debug_file(self.elf)
        if path is None:
            return debugfile.mini_debug_symbols(self.elf)
        try:
            with ElfFile(path) as dbg:
                syms = dbg.symbols(".symtab")
        except ElfError:
            return []  # an unreadable debug file: the .dynsym still serves
        self.debug_path = path
        return syms

    def _name_index(self) -> dict[str, list[Symbol]]:
        if self._by_name is None:
            idx: dict[str, list[Symbol]] = {}
            for s in self.symbols:
                lst = idx.get(s.name)
                if lst is None:
                    idx[s.name] = [s]
                else:
                    lst.append(s)
            self._by_name = idx
        return self._by_name

    # -- by name ---------------------------------------------------------

    def lookup(self, name: str) -> list[Symbol]:
        """Symbols called exactly name ([] if none). Accepts 'name@VER' and
        'name@@VER' to pick a versioned .dynsym entry."""
        if "@" in name:
            base, _, ver = name.partition("@")
            default = ver.startswith("@")
            ver = ver.lstrip("@")
            return [s for s in self._name_index().get(base, [])
                    if s.version == ver and (not default or s.default_version)]
        return list(self._name_index().get(name, []))

    def lookup_one(self, name: str, functions_only: bool = True) -> Symbol | None:
        """The best single symbol called name: a function before data, the
        default version before a hidden one, global before weak before
        local."""
        cands = [s for s in self.lookup(name)
                 if not functions_only or s.type in FUNC_TYPES]
        if not cands:
            return None
        return min(cands, key=_preference)

    def match(self, pattern: str, functions_only: bool = True) -> list[str]:
        """Sorted unique names matching a glob ('*' and '?', as bpftrace's
        probe wildcards; '[...]' too), or the name itself if it has none."""
        names = self.function_names() if functions_only \
            else self._name_index().keys()
        if not any(c in pattern for c in "*?["):
            return [pattern] if pattern in names else []
        rx = re.compile(fnmatch.translate(pattern))
        return sorted(n for n in names if rx.match(n))

    def function_names(self) -> set[str]:
        return {s.name for s in self.symbols if s.type in FUNC_TYPES}

    def functions(self) -> list[Symbol]:
        """One symbol per distinct function address, sorted by address
        (aliases collapse to the preferred name)."""
        best: dict[int, Symbol] = {}
        for s in self.symbols:
            if s.type not in FUNC_TYPES:
                continue
            cur = best.get(s.value)
            if cur is None or _preference(s) < _preference(cur):
                best[s.value] = s
        return [best[a] for a in sorted(best)]

    # -- by address --------------------------------------------------------

    def _addr_index(self) -> None:
        if self._starts is not None:
            return
        syms = sorted((s for s in self.symbols if s.value),
                      key=_value_of)
        self._sorted = syms
        self._starts = [s.value for s in syms]
        mx, acc = 0, []
        append = acc.append
        for s in syms:
            e = s.value + (s.size or 1)
            if e > mx:
                mx = e
            append(mx)
        self._maxend = acc

    def lookup_addr(self, addr: int) -> SymbolAt | None:
        """The symbol whose [value, value+size) contains addr (an ELF
        virtual address: subtract the load bias first), preferring the
        innermost (latest-starting) one; a size-0 symbol matches only its
        own address. None if no symbol covers addr."""
        self._addr_index()
        starts, syms, maxend = self._starts, self._sorted, self._maxend
        i = bisect.bisect_right(starts, addr) - 1
        # All symbols sharing the start come in preference order; among
        # starts <= addr walk back until no earlier symbol can reach addr.
        while i >= 0 and maxend[i] > addr:
            j = bisect.bisect_left(starts, starts[i])
            hits = [s for s in syms[j:i + 1] if s.value + max(s.size, 1) > addr]
            if hits:
                best = min(hits, key=_preference) if len(hits) > 1 else hits[0]
                return SymbolAt(best, addr - best.value)
            i = j - 1
        return None

    def symbolize(self, addr: int, with_offset: bool = True) -> str | None:
        """'name+off' for addr, or None."""
        r = self.lookup_addr(addr)
        return r.format(with_offset) if r else None

    # -- compiler-split functions -----------------------------------------

    def split_parts(self) -> dict[str, list[Symbol]]:
        """parent name -> its clone/part symbols ('foo' -> [foo.part.0,
        foo.cold]); parents that are not themselves symbols included (an
        inlined-away parent still has its .cold part)."""
        if self._splits is None:
            out: dict[str, list[Symbol]] = {}
            for s in self.symbols:
                if s.type not in FUNC_TYPES:
                    continue
                r = split_function_name(s.name)
                if r:
                    out.setdefault(r[0], []).append(s)
            for v in out.values():
                v.sort(key=lambda s: (s.name, s.value))
            self._splits = out
        return self._splits

    def parts_of(self, name: str) -> list[Symbol]:
        """The compiler-split pieces of function name (not name itself)."""
        return list(self.split_parts().get(name, []))

    def parent_of(self, name: str) -> str | None:
        """'foo' for 'foo.isra.0', else None."""
        r = split_function_name(name)
        return r[0] if r else None

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterable[Symbol]:
        return iter(self.symbols)


_opened: dict[str, tuple[tuple, SymbolTable]] = {}


def table_of(path: str) -> SymbolTable:
    """The symbol table of the file at path, opened once per process
    (probe expansion and uaddr() ask for the same files again and again)
    and again when the ``--debuginfo`` directories change."""
    dirs = debugfile.search_dirs()
    hit = _opened.get(path)
    if hit is None or hit[0] != dirs:
        hit = _opened[path] = (dirs, SymbolTable(path))
    return hit[1]


def forget(path: str) -> None:
    """Drop the table table_of() holds for path (the file was replaced)."""
    _opened.pop(path, None)


def _versioned(s: Symbol) -> Symbol:
    """A .symtab entry 'memcpy@@GLIBC_2.14' (ld writes versioned
    definitions so) as 'memcpy' of that version, as .dynsym has it."""
    base, _, ver = s.name.partition("@")
    if not base:
        return s
    return s._replace(name=base, version=ver.lstrip("@"),
                      default_version=ver.startswith("@"))


def _with_version(s: Symbol, twin: Symbol | None) -> Symbol:
    if twin is None or s.bind == "LOCAL":
        return s
    return s._replace(version=twin.version, default_version=twin.default_version)


_BIND_RANK = {"GLOBAL": 0, "WEAK": 1, "UNIQUE": 1}


def _value_of(s: Symbol) -> int:
    return s.value


def _preference(s: Symbol) -> tuple:
    """Sort key, smaller is better: functions, default versions, global,
    weak, local, then non-empty size, then the shorter name."""
    return (s.type not in FUNC_TYPES, not s.default_version,
            _BIND_RANK.get(s.bind, 2), s.size == 0, len(s.name), s.name)
