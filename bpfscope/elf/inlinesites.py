"""The inlined copies of a few named functions, without indexing all of a
file's debug info.

A uprobe on one function asks one question of the DWARF: where was this
function inlined? :class:`~bpfscope.elf.dwarf.InlineIndex` answers it for
every function at once, walking every DIE of every unit (about a second
for libc6-dbg's debug file). Without an accelerator table (gcc emits no
``.debug_names``), the units worth walking can still be found by bytes:
an inlined copy refers to its abstract subprogram in the same unit
(``DW_FORM_ref*``), and that subprogram (or the declaration its
``DW_AT_specification`` names) carries the function's name, either
inline (``DW_FORM_string``) or as an offset into ``.debug_str`` /
``.debug_line_str`` (``DW_FORM_strp``, ``DW_FORM_line_strp``). So the
name is looked up in the string sections (every occurrence, as the
linker's tail merging may put it at the end of a longer string), the
offsets are searched for in ``.debug_info`` as 4 little-endian bytes (the
low half of a 64-bit DWARF offset too), and only the units holding a hit
are walked. A false hit costs one unit's walk, never a wrong answer.

A reference from another unit by section offset (``DW_FORM_ref_addr``,
as LTO and ``dwz -m`` write) is found the same way: the offsets of the
subprograms found are searched for as 4 bytes, in the units whose
abbreviations have such a form, until no unit is added.

Files where a name may be reached otherwise go to the whole index: a dwz
supplement, split DWARF (skeleton units, ``.debug_addr``) and indexed
strings (``.debug_str_offsets``: the name is not written as an offset).
So do names whose DWARF name cannot be told from the text (templates,
operators), names found in a quarter of the units, and sessions that ask
about more than :data:`LAZY_NAMES` functions (a wildcard), for which one
whole walk is cheaper.

:func:`index_for` gives the index the uprobe provider uses; its answers
are kept on disk per debug file (:mod:`.dwarfcache`), so a second start
reads no DWARF for a function asked about before.
"""

from __future__ import annotations

import bisect
import os
import struct

from . import dwarfcache
from .debugfile import altlink
from .demangle import strip_params
from .dwarf import (AT_ABSTRACT_ORIGIN, AT_SPECIFICATION, DwarfError, InlineIndex,
                    InlineSite, _abbrevs, _other_sections, _unit_sections, unit_header)
from .reader import ElfFile

# names answered one by one; past this many a whole walk is cheaper
LAZY_NAMES = 16
CACHE_KIND = "inlsites"
# units walked for names before the whole walk is cheaper: a quarter of
# them, or this many in a small file
_FEW_UNITS = 8
# DW_FORM_ref_addr, ref_sup4, ref_sup8, GNU_ref_alt
_CROSS_FORMS = frozenset((0x10, 0x1C, 0x24, 0x1F20))
_SPLIT_UNITS = (0x04, 0x05)     # DW_UT_skeleton, DW_UT_split_compile


class _Partial(InlineIndex):
    """An InlineIndex of the units walked so far: those whose bytes may
    name a function asked about."""

    def __init__(self, path: str, binary: str | None = None):
        self.binary, self.path = binary or path, path
        with ElfFile(path) as elf:
            self.info, self.abbrev = _unit_sections(elf)
            self.__dict__.update(_other_sections(elf))
            link = altlink(elf)
        self.alt_file, self.missing_alt, self.alt_str = None, None, b""
        self.subprograms, self.inlined, self._by_name = {}, {}, None
        self.skeletons, self.split_files, self.missing_dwo = [], [], []
        self._bias = 0
        self._abbrev_cache: dict[int, dict] = {}
        self._walked: set[int] = set()
        self._names_of: dict[int, set[str]] = {}
        self.starts: list[int] = []
        self.usable = not link and not self.str_offsets
        try:
            pos, end = 0, len(self.info)
            while pos < end and self.usable:
                h = unit_header(self.info, pos)
                if h.version >= 5 and h.unit_type in _SPLIT_UNITS:
                    self.usable = False
                self.starts.append(pos)
                pos = h.end
        except (IndexError, struct.error, ValueError) as e:
            raise DwarfError(f"{path}: malformed DWARF in .debug_info ({e})") from None

    def units_holding(self, pats: list[bytes]) -> set[int]:
        """Start offsets of the units whose bytes hold one of pats."""
        info, starts, hits = self.info, self.starts, set()
        for pat in pats:
            i = info.find(pat)
            while i >= 0:
                u = bisect.bisect_right(starts, i) - 1
                if u < 0:
                    i = info.find(pat, i + 1)
                    continue
                hits.add(starts[u])
                # the rest of this unit adds nothing: on to the next
                nxt = starts[u + 1] if u + 1 < len(starts) else len(info)
                i = info.find(pat, max(i + 1, nxt))
        return hits

    def name_patterns(self, names: set[str]) -> list[bytes]:
        """What a DIE named one of names holds: the name inline, or its
        offset into .debug_str or .debug_line_str."""
        pats = []
        for n in names:
            z = n.encode("utf-8", "surrogateescape") + b"\0"
            pats.append(z)
            for strings in (self.str, self.line_str):
                i = strings.find(z)
                while i >= 0:
                    pats.append(struct.pack("<I", i))
                    i = strings.find(z, i + 1)
        return pats

    def _refers_across(self, start: int) -> bool:
        """Can the unit at start refer to another unit's subprogram (an
        abstract origin or specification of a cross-unit form)? Its
        abbreviation table says."""
        h = unit_header(self.info, start)
        abbr = self._abbrev_cache.get(h.abbrev_offset)
        if abbr is None:
            abbr = self._abbrev_cache[h.abbrev_offset] = _abbrevs(self.abbrev, h.abbrev_offset)
        return any(at in (AT_ABSTRACT_ORIGIN, AT_SPECIFICATION) and form in _CROSS_FORMS
                   for _tag, _ch, specs in abbr.values() for at, form, _ic in specs)

    def sites_of(self, name: str) -> list[InlineSite] | None:
        """The inlined copies of name, walking the units that may hold
        them; None when the name cannot be searched for. The units naming
        it first, then, until none is added, those referring by section
        offset (DW_FORM_ref_addr: LTO, dwz -m) to a subprogram that leads
        to the name."""
        names = _search_names(name)
        if names is None:
            return None
        todo = self.units_holding(self.name_patterns(names))
        searched: set[int] = set()
        try:
            while True:
                new = todo - self._walked
                if not new:
                    break
                if len(self._walked) + len(new) > max(_FEW_UNITS, len(self.starts) // 4):
                    return None    # a name in most units: the whole walk is cheaper
                for start in sorted(new):
                    self._walk_unit(self.info, start, self.abbrev, self._abbrev_cache)
                    self._walked.add(start)
                self._names_of.clear()
                dies = [d for d in self.subprograms
                        if d not in searched and name in self._names(d)]
                searched.update(dies)
                todo = {u for u in self.units_holding([struct.pack("<I", d) for d in dies])
                        if self._refers_across(u)}
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DwarfError(f"{self.path}: malformed DWARF in .debug_info ({e})") from None
        # as InlineIndex.sites answers, without indexing every name
        return sorted(s for origin, sites in self.inlined.items()
                      if name in self._names(origin) for s in sites)

    def _names(self, die: int) -> set[str]:
        got = self._names_of.get(die)
        if got is None:
            got = self._names_of[die] = super()._names(die)
        return got


def _search_names(name: str) -> set[str] | None:
    """The strings a DIE of the function called name carries: the name
    itself (a DWARF or linkage name) and, for a qualified C++ name, its
    last component ('helper' of 'ns::helper(int)'); None when that cannot
    be told (templates, operators)."""
    if not name:
        return None
    out = {name}
    if "::" in name or "(" in name:
        last = strip_params(name).rsplit("::", 1)[-1]
        if not last or last.startswith("operator") or any(c in last for c in "<>() ~,"):
            return None
        out.add(last)
    return out


class NameIndex:
    """Inlined copies by function name, answered one name at a time from
    the units that may hold it (:class:`_Partial`), the answers kept on
    disk; the whole :class:`InlineIndex` once the file or the number of
    names asks for it. Quacks like an InlineIndex for the uprobe provider."""

    missing_alt = None
    skeletons: list = []
    missing_dwo: list = []

    def __init__(self, path: str, binary: str | None = None,
                 answers: dict | None = None):
        self.path, self.binary = path, binary or path
        self.answers: dict[str, list[tuple[int, int]]] = dict(answers or {})
        self._partial: _Partial | None = None
        self._full: InlineIndex | None = None

    def sites(self, name: str) -> list[InlineSite]:
        if self._full is not None:
            return self._full.sites(name)
        hit = self.answers.get(name)
        if hit is not None:
            return [InlineSite(a, d) for a, d in hit]
        if len(self.answers) >= LAZY_NAMES:
            return self.full().sites(name)
        if self._partial is None:
            self._partial = _Partial(self.path, self.binary)
        found = self._partial.sites_of(name) if self._partial.usable else None
        if found is None:
            if not self._partial.usable:
                _store(self.path, self.binary, None)
            return self.full().sites(name)
        self.answers[name] = [tuple(s) for s in found]
        _store(self.path, self.binary, self.answers)
        return found

    def full(self) -> InlineIndex:
        """The whole index (from the disk cache when it holds it)."""
        if self._full is None:
            self._partial = None
            self._full = InlineIndex.cached(self.path, self.binary)
        return self._full


def _extra(binary: str) -> tuple:
    return (os.path.abspath(binary),)


def _store(path: str, binary: str, answers: dict | None) -> None:
    """Keep the answers so far (None: this file needs the whole index)."""
    state = {"full": answers is None, "answers": answers or {}}
    dwarfcache.store(CACHE_KIND, path, state, extra=_extra(binary))


def index_for(path: str, binary: str | None = None) -> InlineIndex | NameIndex:
    """What the uprobe provider asks for inlined copies: a NameIndex, or
    the whole InlineIndex where the disk cache says the file needs it (so
    the reasons it has no usable debug info, a missing dwz supplement or
    .dwo, are known at once)."""
    binary = binary or path
    state = dwarfcache.load(CACHE_KIND, path, _extra(binary))
    if state is not None:
        try:
            if state["full"]:
                return InlineIndex.cached(path, binary)
            answers = {str(k): [(int(a), int(d)) for a, d in v]
                       for k, v in state["answers"].items()}
            return NameIndex(path, binary, answers)
        except dwarfcache.DECODE_ERRORS:
            pass
    with ElfFile(path) as elf:
        # a dwz supplement, or split DWARF / indexed strings (.debug_addr,
        # .debug_str_offsets): told by the section headers alone
        if altlink(elf) or any(_nonempty(elf, n) for n in _WHOLE_INDEX_SECTIONS):
            return InlineIndex.cached(path, binary)
    return NameIndex(path, binary)


_WHOLE_INDEX_SECTIONS = (".debug_addr", ".debug_str_offsets")


def _nonempty(elf: ElfFile, name: str) -> bool:
    sec = elf.section(name) or elf.section(".z" + name[1:])
    return sec is not None and sec.size > 0
