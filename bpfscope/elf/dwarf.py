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
Compressed sections are inflated by the ELF reader. Nothing else of DWARF
(types, locations, line tables) is read.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .demangle import demangle, strip_params
from .debugfile import find_debug_file
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
_WANTED = frozenset((AT_SIBLING, AT_NAME, AT_LOW_PC, AT_ABSTRACT_ORIGIN,
                     AT_SPECIFICATION, AT_ENTRY_PC, AT_RANGES, AT_LINKAGE_NAME,
                     AT_MIPS_LINKAGE_NAME, AT_STR_OFFSETS_BASE, AT_ADDR_BASE,
                     AT_RNGLISTS_BASE))

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
    utype = 0x01
    if version >= 5:
        utype, asz = d[pos], d[pos + 1]
        pos += 2
        aoff = int.from_bytes(d[pos:pos + osz], "little")
        pos += osz
        if utype in (0x02, 0x06):
            pos += 8 + osz     # type signature, type offset
        elif utype in (0x04, 0x05):
            pos += 8           # dwo id
    else:
        aoff = int.from_bytes(d[pos:pos + osz], "little")
        pos += osz
        asz = d[pos]
        pos += 1
    return UnitHeader(end, version, utype, asz, osz, aoff, pos)


def form_sizes(version: int, asz: int, osz: int) -> dict[int, int]:
    """Bytes of each fixed-size form in a unit of these sizes."""
    sizes = {f: (osz if s == 0 and f not in (0x19, 0x21) else asz if s == -1 else s)
             for f, s in _FIXED.items()}
    if version == 2:
        sizes[0x10] = asz  # DW_FORM_ref_addr was address-sized in DWARF 2
    return sizes


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

    def __init__(self, path: str):
        with ElfFile(path) as elf:
            self.path = path
            self.info = section_bytes(elf, ".debug_info")
            self.abbrev = section_bytes(elf, ".debug_abbrev")
            self.str = section_bytes(elf, ".debug_str")
            self.line_str = section_bytes(elf, ".debug_line_str")
            self.str_offsets = section_bytes(elf, ".debug_str_offsets")
            self.addr = section_bytes(elf, ".debug_addr")
            self.rnglists = section_bytes(elf, ".debug_rnglists")
            self.ranges = section_bytes(elf, ".debug_ranges")
        # DIE offset -> (name, linkage_name, reference or None, the name
        # qualified by its enclosing namespaces or None)
        self.subprograms: dict[int, tuple] = {}
        # abstract-origin DIE offset -> inlined copies
        self.inlined: dict[int, list[InlineSite]] = {}
        self._by_name: dict[str, list[InlineSite]] | None = None
        try:
            self._walk()
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DwarfError(f"{path}: malformed DWARF in .debug_info ({e})") from None
        self.info = b""  # keep only the index

    # -- the walk ------------------------------------------------------

    def _walk(self) -> None:
        d = self.info
        pos, end = 0, len(d)
        abbrev_cache: dict[int, dict] = {}
        while pos < end:
            h = unit_header(d, pos)
            if h.version < 2 or h.version > 5 or h.addr_size not in (4, 8):
                pos = h.end
                continue
            abbr = abbrev_cache.get(h.abbrev_offset)
            if abbr is None:
                abbr = abbrev_cache[h.abbrev_offset] = _abbrevs(self.abbrev, h.abbrev_offset)
            self._unit(d, h.dies, h.end, pos, h.version, h.addr_size, h.offset_size, abbr)
            pos = h.end

    def _unit(self, d, pos, end, cu_off, version, asz, osz, abbr) -> None:
        sizes = form_sizes(version, asz, osz)
        afmt = "<Q" if asz == 8 else "<I"
        cu = {"base": 0, "addr_base": 8, "str_base": 8, "rng_base": 0,
              "version": version, "asz": asz, "osz": osz}
        first = True
        subprograms = self.subprograms
        wanted = _WANTED
        uleb = _uleb
        # names of the namespaces around the current DIE (None: another
        # DIE with children), for C++ static functions without a linkage
        # name: 'helper' in namespace shop is 'shop::helper'
        scopes: list[str | None] = []
        while pos < end:
            die = pos
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
                    vals[at] = (form, self._value(d, pos, form, ic, sizes, cu_off, afmt, osz))
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
                                    (AT_STR_OFFSETS_BASE, "str_base"),
                                    (AT_RNGLISTS_BASE, "rng_base")):
                        if at in vals:
                            cu[key] = vals[at][1]
                    cu["base"] = self._addr_of(vals.get(AT_LOW_PC), cu) or 0
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
            if children and tag in _SKIP_TAGS and AT_SIBLING in vals and \
                    pos < vals[AT_SIBLING][1] <= end:
                pos = vals[AT_SIBLING][1]  # the whole subtree, its end too
            elif children:
                scopes.append(self._str_of(vals.get(AT_NAME), cu)
                              if tag == TAG_NAMESPACE else None)

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
        if form in (0x0E, 0x1F):
            data = self.line_str if form == 0x1F else self.str
            return _cstr(data, v) if v < len(data) else None
        if isinstance(v, tuple) and v[0] == "strx":
            osz = cu["osz"]
            o = cu["str_base"] + v[1] * osz
            off = int.from_bytes(self.str_offsets[o:o + osz], "little")
            return _cstr(self.str, off)
        return None

    def _addrx(self, idx: int, cu) -> int:
        asz = cu["asz"]
        o = cu["addr_base"] + idx * asz
        return int.from_bytes(self.addr[o:o + asz], "little")

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
        if cu["version"] < 5:
            return self._ranges_v4(v, cu)
        d = self.rnglists
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
                base = self._addrx(i, cu)
            elif kind in (2, 3):                            # startx_endx/length
                i, p = _uleb(d, p)
                _, p = _uleb(d, p)
                out.append(self._addrx(i, cu))
            elif kind == 4:                                 # offset_pair
                a, p = _uleb(d, p)
                b, p = _uleb(d, p)
                if a != b:
                    out.append(base + a)
            elif kind == 5:                                 # base_address
                base = int.from_bytes(d[p:p + asz], "little")
                p += asz
            elif kind == 6:                                 # start_end
                out.append(int.from_bytes(d[p:p + asz], "little"))
                p += 2 * asz
            elif kind == 7:                                 # start_length
                out.append(int.from_bytes(d[p:p + asz], "little"))
                p += asz
                _, p = _uleb(d, p)
            else:
                break
        return out

    def _ranges_v4(self, off: int, cu) -> list[int]:
        d, asz, base, out = self.ranges, cu["asz"], cu["base"], []
        top = (1 << (8 * asz)) - 1
        p = off
        while p + 2 * asz <= len(d):
            a = int.from_bytes(d[p:p + asz], "little")
            b = int.from_bytes(d[p + asz:p + 2 * asz], "little")
            p += 2 * asz
            if a == 0 and b == 0:
                break
            if a == top:
                base = b
            elif a != b:
                out.append(base + a)
        return out

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
