"""Where functions were inlined: a minimal DWARF reader.

Only what the uprobe provider needs to say "compute was inlined into main
at 0x1234": it walks ``.debug_info`` once (DWARF 2 to 5, 32- and 64-bit
units, the forms GCC and clang emit), keeps

* every ``DW_TAG_subprogram``'s name, linkage name and its
  ``DW_AT_specification`` / ``DW_AT_abstract_origin`` reference, and
* every ``DW_TAG_inlined_subroutine``'s abstract origin and entry address
  (``DW_AT_entry_pc``, else ``DW_AT_low_pc``, else the lowest start of its
  ``DW_AT_ranges`` from ``.debug_rnglists`` or ``.debug_ranges``),

and skips everything else attribute by attribute (children of types with a
``DW_AT_sibling`` in one jump). Names are then resolved through the
reference chains, so :meth:`InlineIndex.sites` answers by function name.

Debug info is looked for in the file itself, then in its separate debug
file, found as gdb finds it (:mod:`bpfscope.elf.debugfile`: build-id,
``.gnu_debuglink``, ``/usr/lib/debug/<path>``, ``--debuginfo`` directories).
Split DWARF is followed from each skeleton unit to its unit in the
binary's ``.dwp`` package (``.debug_cu_index``, DWARF 5 or GNU's version
2) or in its ``.dwo`` file. Compressed sections are inflated by the ELF
reader. Nothing else of DWARF (types, locations, line tables) is read.

:meth:`InlineIndex.cached` is the index as the tracer gets it: kept on
disk by :mod:`.dwarfcache` after the first walk of a debug file.
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

from . import dwarfcache
from .demangle import demangle, strip_params
from .debugfile import (altlink, dwo_candidates, dwp_candidates, find_alt_file,
                        find_debug_file)
from .reader import SHT_NOBITS, ElfError, ElfFile

# tags
_CU_TAGS = (0x11, 0x3C, 0x4A)          # compile, partial, skeleton unit
TAG_SUBPROGRAM = 0x2E
TAG_INLINED = 0x1D
TAG_NAMESPACE = 0x39
# struct/class/union/enum/array/subroutine types: nothing of ours inside
_SKIP_TAGS = frozenset((0x13, 0x02, 0x17, 0x04, 0x01, 0x15))

# attributes
AT_SIBLING, AT_NAME, AT_LOW_PC = 0x01, 0x03, 0x11
AT_ABSTRACT_ORIGIN, AT_SPECIFICATION = 0x31, 0x47
AT_ENTRY_PC, AT_RANGES = 0x52, 0x55
AT_LINKAGE_NAME, AT_MIPS_LINKAGE_NAME = 0x6E, 0x2007
AT_STR_OFFSETS_BASE, AT_ADDR_BASE, AT_RNGLISTS_BASE = 0x72, 0x73, 0x74
# split DWARF: the skeleton unit's pointer to its .dwo (DWARF 5, and the
# GNU extension of DWARF 4)
AT_COMP_DIR, AT_DWO_NAME = 0x1B, 0x76
AT_GNU_DWO_NAME, AT_GNU_DWO_ID, AT_GNU_RANGES_BASE, AT_GNU_ADDR_BASE = \
    0x2130, 0x2131, 0x2132, 0x2133
# where an inlined copy spans and where it was called from (read for
# subclasses that want them: elf.inlinechain)
AT_STMT_LIST, AT_HIGH_PC, AT_CALL_FILE, AT_CALL_LINE = 0x10, 0x12, 0x58, 0x59
_WANTED = frozenset((AT_SIBLING, AT_NAME, AT_LOW_PC, AT_ABSTRACT_ORIGIN,
                     AT_SPECIFICATION, AT_ENTRY_PC, AT_RANGES, AT_LINKAGE_NAME,
                     AT_MIPS_LINKAGE_NAME, AT_STR_OFFSETS_BASE, AT_ADDR_BASE,
                     AT_RNGLISTS_BASE, AT_COMP_DIR, AT_DWO_NAME, AT_GNU_DWO_NAME,
                     AT_GNU_DWO_ID, AT_GNU_RANGES_BASE, AT_GNU_ADDR_BASE,
                     AT_STMT_LIST, AT_HIGH_PC, AT_CALL_FILE, AT_CALL_LINE))
# dwz: references into the supplementary file (GNU_ref_alt, ref_sup4/8),
# whose DIE offsets the index moves past _ALT_BIAS
_ALT_REFS = frozenset((0x1F20, 0x1C, 0x24))
_ALT_BIAS = 1 << 56
# the scopes entry of an inlined copy's children: it is no namespace, and
# counting them gives an inlined copy's nesting depth
_INLINED_SCOPE = ""
_OTHER_SECTIONS = ("str", "line_str", "str_offsets", "addr", "rnglists", "ranges")
# .debug_cu_index section ids (DWARF 5 DW_SECT_*, GNU's version 2 in [])
_SECT_INFO, _SECT_ABBREV, _SECT_STR_OFFSETS = 1, 3, 6
_SECT_RNGLISTS = 8

# forms of fixed size (0: offset size, 4 or 8; -1: address size)
_FIXED = {0x01: -1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0B: 1, 0x0C: 1, 0x0E: 0,
          0x10: 0, 0x11: 1, 0x12: 2, 0x13: 4, 0x14: 8, 0x17: 0, 0x19: 0,
          0x1C: 4, 0x1D: 0, 0x1E: 16, 0x1F: 0, 0x20: 8, 0x21: 0, 0x24: 8,
          0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3,
          0x2C: 4, 0x1F20: 0, 0x1F21: 0}
_ULEB_FORMS = frozenset((0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02))
_BLOCK_ULEB = frozenset((0x09, 0x18))
_CU_REFS = frozenset((0x11, 0x12, 0x13, 0x14, 0x15))
_STRX = frozenset((0x1A, 0x25, 0x26, 0x27, 0x28, 0x1F02))
_ADDRX = frozenset((0x1B, 0x29, 0x2A, 0x2B, 0x2C, 0x1F01))
_CONST = frozenset((0x05, 0x06, 0x07, 0x0B, 0x0D, 0x0F, 0x21))


class DwarfError(ElfError):
    """Debug info this reader cannot make sense of."""


class Skeleton(NamedTuple):
    """A split-DWARF skeleton unit: where its .dwo is and what the .dwo's
    units need from it (address base, base address, DWARF 4 ranges base,
    and its line table, whose file numbers a split unit's call_file uses:
    gcc numbers the .dwo's file table as the skeleton's))."""
    dwo_name: str
    comp_dir: str | None
    dwo_id: int | None
    version: int
    addr_base: int
    base: int
    ranges_base: int
    stmt_list: int | None = None


class InlineSite(NamedTuple):
    """One inlined copy: the address where it starts (an ELF virtual
    address) and the DIE offset of the inlined_subroutine."""
    addr: int
    die: int


def _uleb(d: bytes, p: int) -> tuple[int, int]:
    b = d[p]
    if b < 0x80:
        return b, p + 1
    v, shift = 0, 0
    while True:
        b = d[p]
        p += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, p
        shift += 7


def _sleb(d: bytes, p: int) -> tuple[int, int]:
    v, shift = 0, 0
    while True:
        b = d[p]
        p += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                v -= 1 << shift
            return v, p


def _cstr(d: bytes, p: int) -> str:
    e = d.index(b"\0", p)
    return d[p:e].decode("utf-8", "replace")


def section_bytes(elf: ElfFile, name: str) -> bytes:
    """A section's contents, inflated if compressed (b'' if absent)."""
    return elf.section_bytes(name)


def debug_file(elf: ElfFile) -> str | None:
    """The file holding elf's debug info: itself when it has .debug_info,
    else its separate debug file (:mod:`bpfscope.elf.debugfile`) when that
    has it, else None."""
    if _has_debug_info(elf):
        return elf.path
    path = find_debug_file(elf)
    if path is None:
        return None
    with ElfFile(path) as dbg:
        return path if _has_debug_info(dbg) else None


def _has_debug_info(elf: ElfFile) -> bool:
    sec = elf.section(".debug_info") or elf.section(".zdebug_info")
    return sec is not None and sec.size > 0 and sec.type != SHT_NOBITS


class UnitHeader(NamedTuple):
    """A unit of .debug_info: where it ends, its DWARF version, unit type
    (DW_UT_*; 1, a compile unit, before DWARF 5), address and offset
    sizes, its abbreviation table, and where its first DIE is."""
    end: int
    version: int
    unit_type: int
    addr_size: int
    offset_size: int
    abbrev_offset: int
    dies: int
    dwo_id: int | None = None  # a skeleton or split unit's (DWARF 5)


def unit_start(d: bytes, pos: int) -> tuple[int, int, int, int]:
    """(end, offset size, version, position after the version) of the
    unit or line program at pos: its initial length (32- or 64-bit DWARF)
    and its version number."""
    length = struct.unpack_from("<I", d, pos)[0]
    pos += 4
    osz = 4
    if length == 0xFFFFFFFF:
        length, osz = struct.unpack_from("<Q", d, pos)[0], 8
        pos += 8
    return pos + length, osz, struct.unpack_from("<H", d, pos)[0], pos + 2


def unit_header(d: bytes, pos: int) -> UnitHeader:
    end, osz, version, pos = unit_start(d, pos)
    utype, dwo_id = 0x01, None
    if version >= 5:
        utype, asz = d[pos], d[pos + 1]
        pos += 2
        aoff = int.from_bytes(d[pos:pos + osz], "little")
        pos += osz
        if utype in (0x02, 0x06):
            pos += 8 + osz     # type signature, type offset
        elif utype in (0x04, 0x05):
            dwo_id = int.from_bytes(d[pos:pos + 8], "little")
            pos += 8
    else:
        aoff = int.from_bytes(d[pos:pos + osz], "little")
        pos += osz
        asz = d[pos]
        pos += 1
    return UnitHeader(end, version, utype, asz, osz, aoff, pos, dwo_id)


def form_sizes(version: int, asz: int, osz: int) -> dict[int, int]:
    """Bytes of each fixed-size form in a unit of these sizes."""
    sizes = {f: (osz if s == 0 and f not in (0x19, 0x21) else asz if s == -1 else s)
             for f, s in _FIXED.items()}
    if version == 2:
        sizes[0x10] = asz  # DW_FORM_ref_addr was address-sized in DWARF 2
    return sizes


def _unit_sections(elf: ElfFile) -> tuple[bytes, bytes]:
    return section_bytes(elf, ".debug_info"), section_bytes(elf, ".debug_abbrev")


def _other_sections(elf: ElfFile) -> dict[str, bytes]:
    """The sections the walk resolves values in, by attribute name."""
    return {k: section_bytes(elf, ".debug_" + k) for k in _OTHER_SECTIONS}


def _other_sections_of(idx) -> dict[str, bytes]:
    return {k: getattr(idx, k) for k in _OTHER_SECTIONS}


def _split_id(info: bytes) -> int | None:
    """The dwo_id in the header of a DWARF 5 split unit, or None."""
    if len(info) < 20:
        return None
    return unit_header(info, 0).dwo_id


def _abbrevs(d: bytes, p: int) -> dict:
    """code -> (tag, has_children, [(attr, form, implicit_const)])."""
    out = {}
    while True:
        code, p = _uleb(d, p)
        if code == 0:
            return out
        tag, p = _uleb(d, p)
        children = d[p]
        p += 1
        specs = []
        while True:
            at, p = _uleb(d, p)
            form, p = _uleb(d, p)
            if at == 0 and form == 0:
                break
            ic = 0
            if form == 0x21:
                ic, p = _sleb(d, p)
            specs.append((at, form, ic))
        out[code] = (tag, bool(children), tuple(specs))


class InlineIndex:
    """Subprograms and inlined copies of one file's debug info."""

    def __init__(self, path: str, binary: str | None = None):
        """path: the file with the debug info; binary: the program or
        library it describes (itself by default), beside which .dwo and
        .dwp files are also looked for."""
        self.binary = binary or path
        self.path = path
        with ElfFile(path) as elf:
            self.info, self.abbrev = _unit_sections(elf)
            self.__dict__.update(_other_sections(elf))
            link = altlink(elf)
            self.alt_file = find_alt_file(elf) if link else None
        # the dwz supplement named but not found
        self.missing_alt = link[0] if link and self.alt_file is None else None
        self.alt_str = b""  # the dwz supplement's .debug_str
        # DIE offset -> (name, linkage_name, reference or None, the name
        # qualified by its enclosing namespaces or None)
        self.subprograms: dict[int, tuple] = {}
        # abstract-origin DIE offset -> inlined copies
        self.inlined: dict[int, list[InlineSite]] = {}
        self._by_name: dict[str, list[InlineSite]] | None = None
        # split DWARF: the skeleton units seen, the .dwo/.dwp files read,
        # and the skeletons whose unit was found nowhere
        self.skeletons: list[Skeleton] = []
        self.split_files: list[str] = []
        self.missing_dwo: list[str] = []
        self._bias = 0
        if self.alt_file is not None:
            self._alt_units(self.alt_file)
        try:
            self._walk(self.info, self.abbrev)
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DwarfError(f"{path}: malformed DWARF in .debug_info ({e})") from None
        if self.skeletons:
            self._split_units(path)
        self.info = b""  # keep only the index

    # -- the walk ------------------------------------------------------

    def _walk(self, d: bytes, abbrev: bytes, skel: Skeleton | None = None) -> None:
        """Every unit of d (a .debug_info, or a split unit's
        .debug_info.dwo with skel its skeleton)."""
        pos, end = 0, len(d)
        abbrev_cache: dict[int, dict] = {}
        while pos < end:
            pos = self._walk_unit(d, pos, abbrev, abbrev_cache, skel)

    def _walk_unit(self, d: bytes, pos: int, abbrev: bytes, abbrev_cache: dict,
                   skel: Skeleton | None = None) -> int:
        """The unit of d at pos (abbreviation tables parsed once into
        abbrev_cache); where the next one starts."""
        h = unit_header(d, pos)
        if h.version < 2 or h.version > 5 or h.addr_size not in (4, 8):
            return h.end
        abbr = abbrev_cache.get(h.abbrev_offset)
        if abbr is None:
            abbr = abbrev_cache[h.abbrev_offset] = _abbrevs(abbrev, h.abbrev_offset)
        self._unit(d, h.dies, h.end, pos, h.version, h.addr_size, h.offset_size, abbr,
                   h.dwo_id, skel)
        return h.end

    def _unit(self, d, pos, end, cu_off, version, asz, osz, abbr,
              dwo_id=None, skel: Skeleton | None = None) -> None:
        sizes = form_sizes(version, asz, osz)
        afmt = "<Q" if asz == 8 else "<I"
        cu = {"base": 0, "addr_base": 8, "str_base": 8, "rng_base": 0,
              "version": version, "asz": asz, "osz": osz, "ranges_base": 0}
        if skel is not None:
            # a split unit: addresses are the skeleton's; its string
            # offsets and range lists start after their section headers
            # (DWARF 5) or at 0 (GNU's DWARF 4)
            cu.update(addr_base=skel.addr_base, base=skel.base,
                      ranges_base=skel.ranges_base, stmt_list=skel.stmt_list,
                      str_base=8 if version >= 5 else 0,
                      rng_base=12 if version >= 5 else 0)
        bias = self._bias
        cu_ref = cu_off + bias
        first = True
        subprograms = self.subprograms
        wanted = _WANTED
        uleb = _uleb
        # names of the namespaces around the current DIE (None: another
        # DIE with children), for C++ static functions without a linkage
        # name: 'helper' in namespace shop is 'shop::helper'
        scopes: list[str | None] = []
        while pos < end:
            die = pos + bias
            code, pos = uleb(d, pos)
            if code == 0:
                if scopes:
                    scopes.pop()
                continue
            tag, children, specs = abbr[code]
            keep = first or tag == TAG_SUBPROGRAM or tag == TAG_INLINED or \
                tag == TAG_NAMESPACE
            vals: dict[int, tuple[int, object]] = {}
            for at, form, ic in specs:
                if form == 0x16:                                   # indirect
                    form, pos = uleb(d, pos)
                if (keep or at == AT_SIBLING) and at in wanted:
                    vals[at] = (form, self._value(d, pos, form, ic, sizes, cu_ref, afmt, osz))
                n = sizes.get(form)
                if n is not None:
                    pos += n
                elif form in _ULEB_FORMS:
                    _, pos = uleb(d, pos)
                elif form == 0x0D:
                    _, pos = _sleb(d, pos)
                elif form == 0x08:
                    pos = d.index(b"\0", pos) + 1
                elif form in _BLOCK_ULEB:
                    n, pos = uleb(d, pos)
                    pos += n
                elif form == 0x0A:
                    pos += 1 + d[pos]
                elif form == 0x03:
                    pos += 2 + struct.unpack_from("<H", d, pos)[0]
                elif form == 0x04:
                    pos += 4 + struct.unpack_from("<I", d, pos)[0]
                else:
                    raise ValueError(f"unknown form {form:#x}")
            if first:
                first = False
                if children:
                    scopes.append(None)
                if tag in _CU_TAGS:
                    for at, key in ((AT_ADDR_BASE, "addr_base"),
                                    (AT_GNU_ADDR_BASE, "addr_base"),
                                    (AT_STMT_LIST, "stmt_list"),
                                    (AT_STR_OFFSETS_BASE, "str_base"),
                                    (AT_RNGLISTS_BASE, "rng_base")):
                        if at in vals and not (skel is not None and key == "stmt_list"):
                            cu[key] = vals[at][1]  # a .dwo's own line table has no rows
                    low = self._addr_of(vals.get(AT_LOW_PC), cu)
                    if low is not None or skel is None:
                        cu["base"] = low or 0
                    dwo = vals.get(AT_DWO_NAME) or vals.get(AT_GNU_DWO_NAME)
                    if dwo is not None and skel is None:
                        comp = self._str_of(vals.get(AT_COMP_DIR), cu)
                        if AT_GNU_DWO_ID in vals:
                            dwo_id = vals[AT_GNU_DWO_ID][1]
                        rb = vals.get(AT_GNU_RANGES_BASE)
                        self.skeletons.append(Skeleton(
                            self._str_of(dwo, cu) or "", comp, dwo_id, version,
                            cu["addr_base"], cu["base"], rb[1] if rb else 0,
                            cu.get("stmt_list")))
                continue
            if tag == TAG_SUBPROGRAM:
                name = self._str_of(vals.get(AT_NAME), cu)
                link = self._str_of(vals.get(AT_LINKAGE_NAME) or
                                    vals.get(AT_MIPS_LINKAGE_NAME), cu)
                ref = vals.get(AT_ABSTRACT_ORIGIN) or vals.get(AT_SPECIFICATION)
                qual = None
                if name and any(scopes):
                    qual = "::".join(n for n in scopes if n) + "::" + name
                subprograms[die] = (name, link, ref[1] if ref else None, qual)
            elif tag == TAG_INLINED:
                origin = vals.get(AT_ABSTRACT_ORIGIN)
                if origin is not None:
                    addr = self._entry_of(vals, cu)
                    if addr is not None:
                        self.inlined.setdefault(origin[1], []).append(InlineSite(addr, die))
                    self._inlined_copy(die, origin[1], vals, cu,
                                       scopes.count(_INLINED_SCOPE))
            if children and tag in _SKIP_TAGS and AT_SIBLING in vals and \
                    pos < vals[AT_SIBLING][1] - bias <= end:
                pos = vals[AT_SIBLING][1] - bias  # the whole subtree, its end too
            elif children:
                scopes.append(self._str_of(vals.get(AT_NAME), cu)
                              if tag == TAG_NAMESPACE else
                              _INLINED_SCOPE if tag == TAG_INLINED else None)

    def _inlined_copy(self, die: int, origin: int, vals: dict, cu: dict,
                      depth: int) -> None:
        """Called for every inlined_subroutine DIE with its attributes;
        depth: how many inlined copies enclose it. The index keeps only
        entry addresses; a subclass may keep more."""

    def _value(self, d, pos, form, ic, sizes, cu_off, afmt, osz):
        """An attribute's raw value: an int for addresses, constants,
        references (made section-relative) and offsets; a str for inline
        strings; (kind, n) for indexed strings and addresses."""
        if form == 0x01:
            return struct.unpack_from(afmt, d, pos)[0]
        if form == 0x08:
            return _cstr(d, pos)
        if form == 0x21:
            return ic
        if form in _ULEB_FORMS:
            v = _uleb(d, pos)[0]
        elif form == 0x0D:
            v = _sleb(d, pos)[0]
        else:
            n = sizes.get(form)
            if n is None:
                return None
            v = int.from_bytes(d[pos:pos + n], "little")
        if form in _CU_REFS:
            return cu_off + v
        if form == 0x10:                                  # ref_addr
            return v + self._bias
        if form in _ALT_REFS:
            return v + _ALT_BIAS
        if form in _STRX:
            return ("strx", v)
        if form in _ADDRX:
            return ("addrx", v)
        return v

    # -- value resolution ------------------------------------------------

    def _str_of(self, fv, cu) -> str | None:
        if fv is None:
            return None
        form, v = fv
        if isinstance(v, str):
            return v
        if form in (0x0E, 0x1F, 0x1F21, 0x1D):
            data = self.line_str if form == 0x1F else self.str if form == 0x0E \
                else self.alt_str
            return _cstr(data, v) if v < len(data) else None
        if isinstance(v, tuple) and v[0] == "strx":
            osz = cu["osz"]
            o = cu["str_base"] + v[1] * osz
            off = int.from_bytes(self.str_offsets[o:o + osz], "little")
            return _cstr(self.str, off)
        return None

    def _addrx(self, idx: int, cu) -> int:
        return addrx(self.addr, idx, cu)

    def _addr_of(self, fv, cu) -> int | None:
        if fv is None:
            return None
        v = fv[1]
        if isinstance(v, tuple):
            return self._addrx(v[1], cu)
        return v if isinstance(v, int) else None

    def _entry_of(self, vals, cu) -> int | None:
        low = self._addr_of(vals.get(AT_LOW_PC), cu)
        ent = vals.get(AT_ENTRY_PC)
        if ent is not None:
            if ent[0] in _CONST:        # DWARF 5: an offset from low_pc
                base = low if low is not None else self._first_range(vals, cu)
                if base is not None:
                    return base + ent[1]
            else:
                a = self._addr_of(ent, cu)
                if a is not None:
                    return a
        if low is not None:
            return low
        return self._first_range(vals, cu)

    def _first_range(self, vals, cu) -> int | None:
        rv = vals.get(AT_RANGES)
        if rv is None:
            return None
        form, v = rv
        starts = self._range_starts(form, v, cu)
        return min(starts) if starts else None

    def _range_starts(self, form, v, cu) -> list[int]:
        return [lo for lo, _ in self._range_pairs(form, v, cu)]

    def _range_pairs(self, form, v, cu) -> list[tuple[int, int]]:
        return range_pairs(self, form, v, cu)

    # -- dwz supplementary files -------------------------------------------

    def _alt_units(self, alt: str) -> None:
        """Walk the units dwz moved to the supplementary file (abstract
        subprograms the inlined copies refer to, with DW_FORM_GNU_ref_alt
        or DW_FORM_ref_sup), its DIE offsets moved past _ALT_BIAS, its
        strings kept for DW_FORM_GNU_strp_alt / DW_FORM_strp_sup."""
        own = _other_sections_of(self)
        try:
            with ElfFile(alt) as e:
                info, abbrev = _unit_sections(e)
                self.__dict__.update(_other_sections(e))
            self.alt_str = self.str
            self._bias = _ALT_BIAS
            self._walk(info, abbrev)
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DwarfError(f"{alt}: malformed DWARF in .debug_info ({e})") from None
        finally:
            self.__dict__.update(own)
            self._bias = 0

    # -- split DWARF -------------------------------------------------------

    def _split_units(self, path: str) -> None:
        """Walk the .dwo unit of every skeleton: from the binary's .dwp
        package when there is one holding it, else from its .dwo file.
        Each file's DIE offsets are moved past the others' (_bias) so that
        references stay unique; .debug_addr and (DWARF 4) .debug_ranges
        stay the skeleton file's."""
        own = (self.str, self.str_offsets, self.rnglists)
        dwp, units = find_dwp(self.binary, path)
        if dwp is not None:
            self.split_files.append(dwp)
        try:
            for n, skel in enumerate(self.skeletons, 1):
                self._bias = n << 40
                unit = units.get(skel.dwo_id) if skel.dwo_id is not None else None
                if unit is None:
                    unit, found = find_dwo_unit(skel, self.binary)
                    if found is not None and found not in self.split_files:
                        self.split_files.append(found)
                if unit is None:
                    self.missing_dwo.append(skel.dwo_name)
                    continue
                info, abbrev, self.str, self.str_offsets, self.rnglists = unit
                try:
                    self._walk(info, abbrev, skel)
                except (IndexError, struct.error, ValueError, KeyError) as e:
                    raise DwarfError(f"{skel.dwo_name}: malformed DWARF in "
                                     f".debug_info.dwo ({e})") from None
        finally:
            self.str, self.str_offsets, self.rnglists = own
            self._bias = 0

    # -- the disk cache (elf.dwarfcache) ---------------------------------

    CACHE_KIND = "inline"

    @classmethod
    def cached(cls, path: str, binary: str | None = None, **kw) -> "InlineIndex":
        """The index of path as the constructor builds it, from the disk
        cache when it holds it, stored there when not."""
        def restore(state):
            obj = cls.__new__(cls)
            obj.restore_state(path, binary, state, **kw)
            return obj
        return dwarfcache.cached(cls.CACHE_KIND, path, lambda: cls(path, binary, **kw),
                                 cls.cache_state, restore,
                                 extra=(os.path.abspath(binary or path),))

    def cache_state(self):
        """(state, files read besides the debug file) for the disk cache,
        or None when a file it needed was missing (it may appear later)."""
        if self.missing_alt or self.missing_dwo:
            return None
        files = ([self.alt_file] if self.alt_file else []) + self.split_files
        state = {"subprograms": self.subprograms,
                 "inlined": {k: [tuple(s) for s in v] for k, v in self.inlined.items()},
                 "skeletons": [tuple(s) for s in self.skeletons],
                 "split_files": self.split_files, "alt_file": self.alt_file}
        return state, [dwarfcache.dependency(f) for f in files]

    def restore_state(self, path: str, binary: str | None, state: dict) -> None:
        """Become the index cache_state described (no section is kept)."""
        self.binary, self.path = binary or path, path
        self.subprograms = {int(k): tuple(v) for k, v in state["subprograms"].items()}
        self.inlined = {int(k): [InlineSite(a, d) for a, d in v]
                        for k, v in state["inlined"].items()}
        self.skeletons = [Skeleton(*s) for s in state["skeletons"]]
        self.split_files = list(state["split_files"])
        self.alt_file = state["alt_file"]
        self.missing_alt, self.missing_dwo = None, []
        self._by_name, self._bias = None, 0
        self.info = self.abbrev = self.alt_str = b""
        for k in _OTHER_SECTIONS:
            setattr(self, k, b"")

    # -- by name -----------------------------------------------------------

    def _names(self, die: int) -> set[str]:
        """Name and linkage name of subprogram die, through its
        specification / abstract-origin chain."""
        out: set[str] = set()
        for _ in range(8):
            ent = self.subprograms.get(die)
            if ent is None:
                break
            name, link, ref, qual = ent
            if name:
                out.add(name)
            if qual:
                out.add(qual)
            if link:
                out.add(link)
                if link.startswith("_Z"):
                    # C++: also the qualified names users write,
                    # 'ns::helper(int)' and 'ns::helper'
                    full = demangle(link)
                    if full != link:
                        out.update((full, strip_params(full)))
            if ref is None:
                break
            die = ref
        return out

    def sites(self, name: str) -> list[InlineSite]:
        """Inlined copies of the function called name (its DWARF name or
        linkage name), sorted by address."""
        if self._by_name is None:
            idx: dict[str, list[InlineSite]] = {}
            for origin, sites in self.inlined.items():
                for n in self._names(origin):
                    idx.setdefault(n, []).extend(sites)
            for v in idx.values():
                v.sort()
            self._by_name = idx
        return list(self._by_name.get(name, ()))


def find_dwo_unit(skel: Skeleton, binary: str):
    """(unit, path) of skel's split unit in its .dwo file, (None, None)
    when no .dwo of this build is found; unit is (info, abbrev, str,
    str_offsets, rnglists)."""
    for cand in dwo_candidates(skel.dwo_name, skel.comp_dir, binary):
        if not os.path.isfile(cand):
            continue
        try:
            with ElfFile(cand) as dwo:
                unit = tuple(section_bytes(dwo, n) for n in (
                    ".debug_info.dwo", ".debug_abbrev.dwo", ".debug_str.dwo",
                    ".debug_str_offsets.dwo", ".debug_rnglists.dwo"))
        except ElfError:
            continue
        if skel.dwo_id is not None and skel.version >= 5 and \
                _split_id(unit[0]) not in (None, skel.dwo_id):
            continue  # a .dwo of another build
        return unit, cand
    return None, None


def dwp_units(dwp: str) -> dict:
    """dwo_id -> (info, abbrev, str, str_offsets, rnglists) of every
    compile unit in a DWARF package (.debug_cu_index, DWARF 5 or GNU's
    version 2)."""
    try:
        with ElfFile(dwp) as e:
            index = section_bytes(e, ".debug_cu_index")
            secs = {n: section_bytes(e, n) for n in (
                ".debug_info.dwo", ".debug_abbrev.dwo", ".debug_str.dwo",
                ".debug_str_offsets.dwo", ".debug_rnglists.dwo")}
    except ElfError:
        return {}
    if len(index) < 16:
        return {}
    version = struct.unpack_from("<H", index, 0)[0]
    ncols, nunits, nslots = struct.unpack_from("<III", index, 4)
    if version not in (2, 5) or 16 + nslots * 12 + ncols * 4 * (1 + 2 * nunits) > len(index):
        return {}
    sigs = struct.unpack_from(f"<{nslots}Q", index, 16)
    rows = struct.unpack_from(f"<{nslots}I", index, 16 + 8 * nslots)
    p = 16 + 12 * nslots
    cols = struct.unpack_from(f"<{ncols}I", index, p)
    offs_at = p + 4 * ncols
    sizes_at = offs_at + 4 * ncols * nunits
    rng = _SECT_RNGLISTS if version == 5 else None
    out = {}
    for sig, row in zip(sigs, rows):
        if not row or row > nunits:
            continue
        offs = struct.unpack_from(f"<{ncols}I", index, offs_at + 4 * ncols * (row - 1))
        lens = struct.unpack_from(f"<{ncols}I", index, sizes_at + 4 * ncols * (row - 1))
        part = {c: (o, n) for c, o, n in zip(cols, offs, lens)}

        def piece(sect, name):
            if sect not in part:
                return b""
            o, n = part[sect]
            return secs[name][o:o + n]
        out[sig] = (piece(_SECT_INFO, ".debug_info.dwo"),
                    piece(_SECT_ABBREV, ".debug_abbrev.dwo"),
                    secs[".debug_str.dwo"],
                    piece(_SECT_STR_OFFSETS, ".debug_str_offsets.dwo"),
                    piece(rng, ".debug_rnglists.dwo"))
    return out


def find_dwp(binary: str, debug: str) -> tuple[str | None, dict]:
    """(path, dwp_units) of binary's .dwp package, (None, {}) without one."""
    for dwp in dwp_candidates(binary, debug if debug != binary else None):
        if os.path.isfile(dwp):
            units = dwp_units(dwp)
            if units:
                return dwp, units
    return None, {}


def addrx(addr: bytes, idx: int, cu) -> int:
    """Entry idx of the unit's .debug_addr table."""
    asz = cu["asz"]
    o = cu["addr_base"] + idx * asz
    return int.from_bytes(addr[o:o + asz], "little")


def range_pairs(src, form, v, cu) -> list[tuple[int, int]]:
    """The [low, high) address ranges of a DW_AT_ranges value, read from
    ``src``'s .rnglists, .ranges and .addr sections."""
    if cu["version"] < 5:
        return _ranges_v4(src, v, cu)
    d = src.rnglists
    if form == 0x23:                  # rnglistx: via the offsets table
        osz = cu["osz"]
        o = cu["rng_base"] + v * osz
        v = cu["rng_base"] + int.from_bytes(d[o:o + osz], "little")
    asz, base, out, p = cu["asz"], cu["base"], [], v
    while p < len(d):
        kind = d[p]
        p += 1
        if kind == 0:                                   # end_of_list
            break
        if kind == 1:                                   # base_addressx
            i, p = _uleb(d, p)
            base = addrx(src.addr, i, cu)
        elif kind == 2:                                 # startx_endx
            i, p = _uleb(d, p)
            j, p = _uleb(d, p)
            out.append((addrx(src.addr, i, cu), addrx(src.addr, j, cu)))
        elif kind == 3:                                 # startx_length
            i, p = _uleb(d, p)
            n, p = _uleb(d, p)
            lo = addrx(src.addr, i, cu)
            out.append((lo, lo + n))
        elif kind == 4:                                 # offset_pair
            a, p = _uleb(d, p)
            b, p = _uleb(d, p)
            if a != b:
                out.append((base + a, base + b))
        elif kind == 5:                                 # base_address
            base = int.from_bytes(d[p:p + asz], "little")
            p += asz
        elif kind == 6:                                 # start_end
            a = int.from_bytes(d[p:p + asz], "little")
            b = int.from_bytes(d[p + asz:p + 2 * asz], "little")
            out.append((a, b))
            p += 2 * asz
        elif kind == 7:                                 # start_length
            a = int.from_bytes(d[p:p + asz], "little")
            p += asz
            n, p = _uleb(d, p)
            out.append((a, a + n))
        else:
            break
    return out

def _ranges_v4(src, off: int, cu) -> list[tuple[int, int]]:
    d, asz, base, out = src.ranges, cu["asz"], cu["base"], []
    top = (1 << (8 * asz)) - 1
    p = off + cu["ranges_base"]
    while p + 2 * asz <= len(d):
        a = int.from_bytes(d[p:p + asz], "little")
        b = int.from_bytes(d[p + asz:p + 2 * asz], "little")
        p += 2 * asz
        if a == 0 and b == 0:
            break
        if a == top:
            base = b
        elif a != b:
            out.append((base + a, base + b))
    return out
