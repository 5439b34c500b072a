"""A function's parameters and the C types they use, from DWARF.

What ``args`` in a uprobe needs: for the function at one address, the
names and types of its ``DW_TAG_formal_parameter`` children, and the
struct, union, enum, array and pointer types those (and casts such as
``(struct Foo *)arg0``) name. Only the compile unit holding the address is
read: ``.debug_aranges`` says which one, and without it the units are
tried one after another, each parsed only as far as its first DIE's
address ranges. Types come out in a small neutral model (:class:`CType`),
which the uprobe provider turns into the tracer's own types; this module
knows nothing of them.

It shares the attribute forms, abbreviation tables and section reading of
:mod:`.dwarf` (DWARF 2 to 5, 32- and 64-bit units, compressed sections).
A reference to a DIE of another unit (``DW_FORM_ref_addr``, dwz's partial
units) is followed by parsing that unit too, and one into dwz's
supplementary file (``DW_FORM_GNU_ref_alt``, ``DW_FORM_ref_sup``, with
``DW_FORM_GNU_strp_alt`` strings) by reading that file's units the same way,
their offsets moved past ``_ALT_BIAS``.

Split DWARF (gcc -gsplit-dwarf): a skeleton unit is followed to its split
unit, in the binary's ``.dwp`` package or its ``.dwo`` file (found as
:mod:`.dwarf` finds them for the inline index), read with the skeleton's
address base and the binary's ``.debug_addr``.

What :func:`function_info` finds is kept on disk (:mod:`.dwarfcache`),
one entry per function, so a second start reads no DWARF for it.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field

import bisect

from . import dwarfcache
from .debugfile import find_alt_file
from .dwarf import (AT_COMP_DIR, AT_DWO_NAME, AT_GNU_ADDR_BASE, AT_GNU_DWO_ID, AT_RNGLISTS_BASE,
                    AT_GNU_DWO_NAME, Skeleton, find_dwo_unit, find_dwp)
from .dwarf import (_ADDRX, _ALT_BIAS, _ALT_REFS, _BLOCK_ULEB, _CU_REFS, _CU_TAGS, _STRX,
                    _ULEB_FORMS, DwarfError, _abbrevs, _cstr, _sleb, _uleb, debug_file,
                    form_sizes, range_pairs, section_bytes, unit_header)
from .reader import ElfFile

# tags
TAG_ARRAY, TAG_ENUM, TAG_MEMBER, TAG_POINTER, TAG_REFERENCE = 0x01, 0x04, 0x0D, 0x0F, 0x10
TAG_PARAM, TAG_STRUCT, TAG_SUBROUTINE, TAG_TYPEDEF, TAG_UNION = 0x05, 0x13, 0x15, 0x16, 0x17
TAG_CLASS, TAG_SUBRANGE, TAG_BASE, TAG_CONST, TAG_SUBPROGRAM = 0x02, 0x21, 0x24, 0x26, 0x2E
TAG_VOLATILE, TAG_RESTRICT, TAG_RVALUE_REF, TAG_ATOMIC = 0x35, 0x37, 0x42, 0x47
TAG_ENUMERATOR, AT_CONST_VALUE = 0x28, 0x1C
TAG_IMPORTED_UNIT = 0x3D
_QUALIFIERS = frozenset((TAG_CONST, TAG_VOLATILE, TAG_RESTRICT, TAG_ATOMIC))
_QUALIFIER_WORDS = {TAG_CONST: "const", TAG_VOLATILE: "volatile", TAG_RESTRICT: "restrict",
                    TAG_ATOMIC: "_Atomic"}
TAG_UNSPECIFIED_PARAMS, AT_PROTOTYPED = 0x18, 0x27

# attributes
AT_NAME, AT_BYTE_SIZE, AT_BIT_OFFSET, AT_BIT_SIZE, AT_LOW_PC = 0x03, 0x0B, 0x0C, 0x0D, 0x11
AT_UPPER_BOUND, AT_ABSTRACT_ORIGIN, AT_COUNT, AT_DATA_MEMBER_LOCATION = 0x2F, 0x31, 0x37, 0x38
AT_DECLARATION, AT_ENCODING, AT_SPECIFICATION, AT_TYPE, AT_RANGES = 0x3C, 0x3E, 0x47, 0x49, 0x55
AT_DATA_BIT_OFFSET, AT_LINKAGE_NAME, AT_ARTIFICIAL = 0x6B, 0x6E, 0x34
AT_STR_OFFSETS_BASE, AT_ADDR_BASE, AT_IMPORT = 0x72, 0x73, 0x18

# DW_ATE_*: base type encodings
_ATE_BOOL, _ATE_FLOAT, _ATE_SIGNED, _ATE_SIGNED_CHAR = 0x02, 0x04, 0x05, 0x06
_ATE_UNSIGNED, _ATE_UNSIGNED_CHAR, _ATE_UTF = 0x08, 0x08, 0x10


@dataclass
class CType:
    """A C type: ``kind`` is 'int', 'bool', 'float', 'pointer', 'struct',
    'union', 'enum', 'array', 'void' or 'function'. ``name`` is the C name
    ('int', 'struct Foo', 'char*'); ``target`` what a pointer points to
    and an array holds; ``members`` (name, byte offset, type, bit offset,
    bits) of a struct or union, filled once the whole type is read.
    ``decl`` is how a declaration spells it where that differs from
    ``name``, as gdb and bpftrace print parameters: through typedefs
    ('BIO*', not 'struct bio_st*'), with qualifiers of pointers ('char*
    const') and function pointers in C form ('int (*)(SSL*, void*, int)',
    which bpftrace prints as '<unknown type>*')."""
    kind: str
    name: str
    size: int = 0
    signed: bool = False
    target: "CType | None" = None
    count: int = 0
    members: list = field(default_factory=list)
    enumerators: tuple = ()   # an enum's (name, value) pairs
    decl: str = ""

    @property
    def spelled(self) -> str:
        return self.decl or self.name


@dataclass(frozen=True)
class Param:
    name: str
    type: CType


_VOID = CType("void", "void")


class FunctionInfo:
    """The debug information of one function: its parameters, its return
    type, and every named struct, union and enum type of its compile unit."""

    def __init__(self, params: list[Param], types: dict[str, CType], returns: CType):
        self.params, self.types, self.returns = params, types, returns


def function_info(path: str, vaddr: int, debug_path: str | None = None) -> FunctionInfo | None:
    """The function starting at ``vaddr`` in ``path`` (its ELF address),
    from the file's debug info (or ``debug_path``'s); None when there is
    none or it does not describe that function."""
    key = (path, vaddr, debug_path)
    if key in _CACHE:
        return _CACHE[key]
    info = None
    with ElfFile(path) as elf:
        dpath = debug_path or debug_file(elf)
    if dpath is not None:
        info = dwarfcache.cached("func", dpath, lambda: _read_function(dpath, vaddr, path),
                                 lambda i: _dump_info(i, dpath), _restore_info, extra=(vaddr,))
    _CACHE[key] = info
    return info


def _read_function(dpath: str, vaddr: int, binary: str) -> FunctionInfo | None:
    try:
        reader = _READERS.get(dpath)
        if reader is None:
            reader = _READERS[dpath] = _Reader(dpath, binary=binary)
        return reader.function_at(vaddr)
    except (IndexError, struct.error, ValueError, KeyError) as e:
        raise DwarfError(f"{dpath}: malformed DWARF in .debug_info ({e})") from None


# -- the disk cache (elf.dwarfcache): a FunctionInfo as plain values --------

def _dump_info(info: FunctionInfo | None, dpath: str):
    """(state, deps): the types as a table, each referring to the others
    by their row (so recursive structs stay finite); deps: the dwz
    supplement its types may come from."""
    reader = _READERS.get(dpath)
    alt = reader._alt_path if reader is not None else None
    deps = [dwarfcache.dependency(f) for f in ([alt] if alt else []) +
            (reader.split_files if reader is not None else [])]
    if info is None:
        return ("none",), deps
    rows: list = []
    number: dict[int, int] = {}

    def ref(t: CType | None) -> int:
        if t is None:
            return -1
        if id(t) in number:
            return number[id(t)]
        number[id(t)] = i = len(rows)
        rows.append(None)
        rows[i] = (t.kind, t.name, t.size, t.signed, ref(t.target), t.count,
                   [(m[0], m[1], ref(m[2]), m[3], m[4]) for m in t.members],
                   tuple(t.enumerators), t.decl)
        return i
    params = [(p.name, ref(p.type)) for p in info.params]
    types = {n: ref(t) for n, t in info.types.items()}
    return ("info", rows, params, types, ref(info.returns)), deps


def _restore_info(state) -> FunctionInfo | None:
    if state[0] == "none":
        return None
    _, rows, params, types, returns = state
    made = [CType(kind, name, size, signed, None, count, [], tuple(map(tuple, enums)), decl)
            for kind, name, size, signed, _, count, _, enums, decl in rows]

    def of(i: int) -> CType | None:
        if i == -1:
            return None
        if not 0 <= i < len(made):
            raise IndexError("no such type")
        return made[i]
    for t, row in zip(made, rows):
        t.target = of(row[4])
        t.members = [(m[0], m[1], of(m[2]), m[3], m[4]) for m in row[6]]
    return FunctionInfo([Param(n, of(i)) for n, i in params],
                        {n: of(i) for n, i in types.items()}, of(returns))


_CACHE: dict[tuple, FunctionInfo | None] = {}
# the sections of each debug file read, and its units used last: the
# functions of a wildcard mostly share a few units, and with dwz each
# unit imports tens of small partial ones, so the bound is in DIEs kept
# (a few tens of MB), not in units
_READERS: dict[str, "_Reader"] = {}
_DIES_KEPT = 200_000


class _Die:
    __slots__ = ("tag", "attrs", "children", "offset", "cu")

    def __init__(self, offset: int, tag: int, attrs: dict, cu: dict):
        self.offset, self.tag, self.attrs, self.children = offset, tag, attrs, []
        self.cu = cu  # its unit's bases and sizes, and the reader ('r')


class _Reader:
    def __init__(self, path: str, bias: int = 0, binary: str | None = None):
        """bias: what this file's DIE offsets are moved by (_ALT_BIAS for
        a dwz supplementary file, 0 for the debug file itself); binary:
        the program it describes, beside which .dwo and .dwp files are."""
        self.path, self.bias, self.binary = path, bias, binary or path
        with ElfFile(path) as elf:
            for attr in ("info", "abbrev", "str", "line_str", "str_offsets", "addr", "aranges",
                         "rnglists", "ranges"):
                setattr(self, attr, section_bytes(elf, f".debug_{attr}"))
            alt = find_alt_file(elf) if bias == 0 else None
        self._alt_path, self._alt = alt, None
        self._units: dict[int, dict[int, _Die] | None] = {}
        self._starts: list[int] | None = None
        # split DWARF: the .dwo/.dwp files read, the package's units
        self.split_files: list[str] = []
        self._dwp: tuple | None = None
        self._split_bases: dict | None = None   # set on a split unit's reader

    # -- finding the unit --------------------------------------------------

    def function_at(self, vaddr: int) -> FunctionInfo | None:
        for cu_off in self._units_for(vaddr):
            dies = self._unit(cu_off)
            if dies is None:
                continue
            info = self._function(dies, vaddr)
            if info is not None:
                return info
        return None

    def _units_for(self, vaddr: int) -> list[int]:
        """Offsets of the units that may hold vaddr: the one .debug_aranges
        names, else every unit."""
        d, pos = self.aranges, 0
        while pos + 16 <= len(d):
            length = struct.unpack_from("<I", d, pos)[0]
            hdr = 4
            if length == 0xFFFFFFFF:
                length, hdr = struct.unpack_from("<Q", d, pos + 4)[0], 12
            end = pos + hdr + length
            p = pos + hdr + 2
            osz = 8 if hdr == 12 else 4
            cu = int.from_bytes(d[p:p + osz], "little")
            asz = d[p + osz]
            p += osz + 2
            p += -(p - pos) % (2 * asz)  # tuples start at a multiple of their size
            while p + 2 * asz <= end:
                start = int.from_bytes(d[p:p + asz], "little")
                size = int.from_bytes(d[p + asz:p + 2 * asz], "little")
                p += 2 * asz
                if start == 0 and size == 0:
                    break
                if start <= vaddr < start + size:
                    return [cu]
            pos = end
        return list(self._unit_starts())

    def _unit_starts(self) -> list[int]:
        if self._starts is None:
            out, pos = [], 0
            while pos + 4 <= len(self.info):
                out.append(pos)
                pos = unit_header(self.info, pos).end
            self._starts = out
        return self._starts

    def _alt_reader(self) -> "_Reader | None":
        if self._alt is None and self._alt_path is not None:
            self._alt = _Reader(self._alt_path, _ALT_BIAS)
        return self._alt

    def die_at(self, off: int) -> _Die | None:
        """The DIE at (biased) offset off, of any unit of this file or of
        its dwz supplement."""
        if off >= _ALT_BIAS and self.bias == 0:
            alt = self._alt_reader()
            return alt.die_at(off) if alt is not None else None
        local = off - self.bias
        starts = self._unit_starts()
        i = bisect.bisect_right(starts, local) - 1
        if i < 0:
            return None
        dies = self._unit(starts[i])
        return dies.get(off) if dies else None

    def lookup(self, dies: dict[int, _Die], ref) -> _Die | None:
        """The DIE ref names: in dies (the unit at hand) or elsewhere."""
        if ref is None or isinstance(ref, (str, bytes, tuple)):
            return None
        die = dies.get(ref)
        return die if die is not None else self.die_at(ref)

    # -- one unit ---------------------------------------------------------

    def _unit(self, cu_off: int) -> dict[int, _Die] | None:
        """Every DIE of the unit at cu_off, by offset (None if it is of a
        version or kind this reader does not read)."""
        if cu_off in self._units:
            dies = self._units[cu_off] = self._units.pop(cu_off)  # the newest now
            return dies
        dies = self._parse_unit(cu_off)
        kept = self.__dict__.get("_dies_kept", 0)
        while self._units and kept + len(dies or ()) > _DIES_KEPT:
            kept -= len(self._units.pop(next(iter(self._units))) or ())
        self._units[cu_off] = dies
        self._dies_kept = kept + len(dies or ())
        return dies

    def _parse_unit(self, cu_off: int) -> dict[int, _Die] | None:
        d = self.info
        h = unit_header(d, cu_off)
        version, asz, osz, pos, end = h.version, h.addr_size, h.offset_size, h.dies, h.end
        # compile, partial and skeleton units (split ones in a .dwo), of
        # the versions this reader knows
        kinds = (0x01, 0x05) if self._split_bases is not None else (0x01, 0x03, 0x04)
        if not 2 <= version <= 5 or h.unit_type not in kinds or asz not in (4, 8):
            return None
        aoff = h.abbrev_offset
        # dwz gives many units one table: parsing it each time was most
        # of a listing's time
        cache = self.__dict__.setdefault("_abbrev_tables", {})
        abbr = cache.get(aoff)
        if abbr is None:
            abbr = cache[aoff] = _abbrevs(self.abbrev, aoff)
        sizes = form_sizes(version, asz, osz)
        dies: dict[int, _Die] = {}
        cu = {"addr_base": 8, "str_base": 8, "asz": asz, "osz": osz, "r": self,
              "dies": dies, "version": version}
        if self._split_bases is not None:
            cu.update(self._split_bases)
        bias = self.bias
        stack: list[_Die] = []
        while pos < end:
            off = pos
            code, pos = _uleb(d, pos)
            if code == 0:
                if stack:
                    stack.pop()
                continue
            tag, children, specs = abbr[code]
            attrs = {}
            for at, form, ic in specs:
                if form == 0x16:
                    form, pos = _uleb(d, pos)
                attrs[at], pos = self._value(d, pos, form, ic, sizes, cu_off, asz)
            die = _Die(off + bias, tag, attrs, cu)
            dies[off + bias] = die
            if stack:
                stack[-1].children.append(die)
            elif tag in _CU_TAGS:
                for at, key in ((AT_ADDR_BASE, "addr_base"), (AT_GNU_ADDR_BASE, "addr_base"),
                                (AT_STR_OFFSETS_BASE, "str_base")):
                    if isinstance(attrs.get(at), int):
                        cu[key] = attrs[at]
            if children:
                stack.append(die)
        root = dies.get(h.dies + bias)
        if root is not None and self._split_bases is None and \
                (AT_DWO_NAME in root.attrs or AT_GNU_DWO_NAME in root.attrs):
            return self._split_unit(h, root, cu)
        return dies

    # -- split DWARF ---------------------------------------------------------

    def _split_unit(self, h, root: _Die, cu: dict) -> dict[int, _Die] | None:
        """The DIEs of a skeleton unit's split unit, from the binary's .dwp
        or its .dwo (None when neither is found), read with the skeleton's
        address base and this file's .debug_addr; their offsets are moved
        past every other file's."""
        name = self._attr(root, AT_DWO_NAME) or self._attr(root, AT_GNU_DWO_NAME) or ""
        dwo_id = h.dwo_id if h.dwo_id is not None else root.attrs.get(AT_GNU_DWO_ID)
        low = self._attr(root, AT_LOW_PC)
        skel = Skeleton(name, self._attr(root, AT_COMP_DIR), dwo_id, h.version,
                        cu["addr_base"] if h.version >= 5 or AT_GNU_ADDR_BASE in root.attrs
                        else 0, low if isinstance(low, int) else 0, 0)
        if self._dwp is None:
            self._dwp = find_dwp(self.binary, self.path)
        dwp, units = self._dwp
        unit, found = (units.get(dwo_id), dwp) if dwo_id in units else (None, None)
        if unit is None:
            unit, found = find_dwo_unit(skel, self.binary)
        if unit is None:
            return None
        if found not in self.split_files:
            self.split_files.append(found)
        sub = _Reader.__new__(_Reader)
        sub.path, sub.binary = found, self.binary
        self._nsplit = getattr(self, "_nsplit", 0) + 1
        sub.bias = self._nsplit << 40
        sub.info, sub.abbrev, sub.str, sub.str_offsets = unit[:4]
        sub.line_str, sub.addr, sub.aranges = b"", self.addr, b""
        sub.rnglists, sub.ranges = unit[4], b""
        sub._alt_path, sub._alt, sub._units, sub._starts = None, None, {}, None
        sub.split_files, sub._dwp = [], None
        sub._split_bases = {"addr_base": skel.addr_base,
                            "str_base": 8 if h.version >= 5 else 0}
        return sub._parse_unit(0)

    def _value(self, d, pos, form, ic, sizes, cu_off, asz):
        """(value, next position): ints for constants, addresses, offsets and
        references (made section-relative); str for strings; bytes for
        blocks and expressions."""
        if form == 0x08:
            e = d.index(b"\0", pos)
            return d[pos:e].decode("utf-8", "replace"), e + 1
        if form == 0x21:
            return ic, pos
        if form == 0x19:                                   # flag_present
            return 1, pos
        if form in _BLOCK_ULEB:
            n, pos = _uleb(d, pos)
            return bytes(d[pos:pos + n]), pos + n
        if form == 0x0A:
            n = d[pos]
            return bytes(d[pos + 1:pos + 1 + n]), pos + 1 + n
        if form == 0x03:
            n = struct.unpack_from("<H", d, pos)[0]
            return bytes(d[pos + 2:pos + 2 + n]), pos + 2 + n
        if form == 0x04:
            n = struct.unpack_from("<I", d, pos)[0]
            return bytes(d[pos + 4:pos + 4 + n]), pos + 4 + n
        if form in _ULEB_FORMS:
            v, pos = _uleb(d, pos)
        elif form == 0x0D:
            v, pos = _sleb(d, pos)
        else:
            n = sizes.get(form)
            if n is None:
                raise ValueError(f"unknown form {form:#x}")
            v = int.from_bytes(d[pos:pos + n], "little")
            pos += n
        if form in _CU_REFS:
            return cu_off + v + self.bias, pos
        if form == 0x10:                                   # ref_addr
            return v + self.bias, pos
        if form in _ALT_REFS:
            return v + _ALT_BIAS, pos
        if form in (0x0E, 0x1F, 0x1F21, 0x1D):
            if form in (0x0E, 0x1F):
                data = self.line_str if form == 0x1F else self.str
            else:                                          # dwz's strp_alt/strp_sup
                alt = self._alt_reader()
                data = alt.str if alt is not None else b""
            return (_cstr(data, v) if v < len(data) else ""), pos
        if form in _STRX:
            return ("strx", v), pos
        if form in _ADDRX:
            return ("addrx", v), pos
        return v, pos

    def _attr(self, die: _Die, at: int):
        v = die.attrs.get(at)
        if isinstance(v, tuple):
            kind, idx = v
            cu = die.cu
            r = cu["r"]
            if kind == "strx":
                o = cu["str_base"] + idx * cu["osz"]
                return _cstr(r.str, int.from_bytes(r.str_offsets[o:o + cu["osz"]], "little"))
            o = cu["addr_base"] + idx * cu["asz"]
            return int.from_bytes(r.addr[o:o + cu["asz"]], "little")
        return v

    # -- the function and its types ----------------------------------------

    def _function(self, dies: dict[int, _Die], vaddr: int) -> FunctionInfo | None:
        for die in dies.values():
            if die.tag != TAG_SUBPROGRAM or self._entry(die) != vaddr:
                continue
            types = _Types(self, dies)
            params = []
            for child in die.children:
                if child.tag != TAG_PARAM:
                    continue
                src = self._origin(dies, child)
                name = self._attr(src, AT_NAME) or f"arg{len(params)}"
                params.append(Param(name, types.of(src.attrs.get(AT_TYPE))))
            named = {}
            for d in self._with_imports(dies):
                if d.tag in (TAG_STRUCT, TAG_CLASS, TAG_UNION, TAG_ENUM) and \
                        self._attr(d, AT_NAME) and not d.attrs.get(AT_DECLARATION):
                    t = types.of(d.offset)
                    named.setdefault(t.name, t)
            return FunctionInfo(params, named, types.of(self._origin(dies, die).attrs.get(AT_TYPE)))
        return None

    def _entry(self, die: _Die) -> int | None:
        """Where a subprogram starts: its low_pc, or, split into a hot and
        a cold part (DW_AT_ranges), the first range's start as gdb takes
        it (the .cold part is a symbol of its own, without arguments)."""
        low = self._attr(die, AT_LOW_PC)
        if low is not None or AT_RANGES not in die.attrs:
            return low
        cu = die.cu
        if "base" not in cu:
            root = next(iter(cu["dies"].values()))
            base = self._attr(root, AT_LOW_PC)
            cu.update(base=base if isinstance(base, int) else 0, ranges_base=0,
                      rng_base=root.attrs.get(AT_RNGLISTS_BASE, 0))
        try:
            pairs = range_pairs(self, 0x17, die.attrs[AT_RANGES], cu)
        except (IndexError, ValueError):
            return None
        return pairs[0][0] if pairs else None

    def _with_imports(self, dies: dict[int, _Die]):
        """The DIEs of a unit, then those of the partial units it imports
        (DW_TAG_imported_unit: where dwz moved shared types)."""
        todo, seen = [dies], set()
        while todo:
            unit = todo.pop()
            yield from unit.values()
            for d in unit.values():
                if d.tag != TAG_IMPORTED_UNIT:
                    continue
                root = self.lookup(unit, d.attrs.get(AT_IMPORT))
                if root is not None and root.offset not in seen:
                    seen.add(root.offset)
                    todo.append(root.cu["dies"])

    def _origin(self, dies, die: _Die) -> _Die:
        """A concrete DIE's abstract origin, whose name and type it takes."""
        seen = 0
        while AT_NAME not in die.attrs and seen < 8:
            ref = die.attrs.get(AT_ABSTRACT_ORIGIN, die.attrs.get(AT_SPECIFICATION))
            nxt = self.lookup(dies, ref)
            if nxt is None:
                break
            die, seen = nxt, seen + 1
        return die


class _Types:
    """DIE offsets -> CType, each type built once (so recursive structs end)."""

    def __init__(self, reader: _Reader, dies: dict[int, _Die]):
        self.r, self.dies, self.done = reader, dies, {}

    def of(self, ref) -> CType:
        if ref in self.done:
            return self.done[ref]
        die = self.r.lookup(self.dies, ref)
        if die is None:
            return _VOID
        r, tag = self.r, die.tag
        name = r._attr(die, AT_NAME) or ""
        size = r._attr(die, AT_BYTE_SIZE) or 0
        if tag in _QUALIFIERS or tag == TAG_TYPEDEF:
            inner = self.of(die.attrs.get(AT_TYPE))
            if tag == TAG_TYPEDEF:
                if inner.kind not in ("int", "bool", "float"):
                    return dataclasses.replace(inner, decl=name) if name else inner
                t = CType(inner.kind, name or inner.name, inner.size, inner.signed)
            else:
                word = _QUALIFIER_WORDS[tag]
                if inner.kind == "pointer":   # qualifies the pointer itself
                    return dataclasses.replace(inner, decl=f"{inner.spelled} {word}")
                if tag == TAG_CONST:
                    return dataclasses.replace(inner, name=f"const {inner.name}",
                                               decl=inner.decl and f"const {inner.decl}")
                return dataclasses.replace(inner, decl=f"{word} {inner.spelled}")
        elif tag == TAG_BASE:
            enc = r._attr(die, AT_ENCODING)
            kind = "bool" if enc == _ATE_BOOL else "float" if enc == _ATE_FLOAT else "int"
            t = CType(kind, name, size, enc in (_ATE_SIGNED, _ATE_SIGNED_CHAR))
        elif tag in (TAG_POINTER, TAG_REFERENCE, TAG_RVALUE_REF):
            t = CType("pointer", "", 8)
            self.done[ref] = t
            t.target = self.of(die.attrs.get(AT_TYPE))
            t.name = f"{t.target.name}*"
            tgt = t.target
            if tgt.kind == "function" and tgt.decl.endswith(")"):
                t.decl = tgt.decl                 # 'int (*)(int)': the (*) is this pointer
            elif tgt.kind == "pointer" and tgt.target is not None and \
                    tgt.target.kind == "function" and tgt.decl.endswith(")"):
                t.decl = tgt.decl.replace("(*", "(**", 1)
            elif tgt.decl:
                t.decl = f"{tgt.decl}*"
        elif tag in (TAG_STRUCT, TAG_CLASS, TAG_UNION):
            kw = "union" if tag == TAG_UNION else "struct"
            t = CType("union" if tag == TAG_UNION else "struct",
                      f"{kw} {name}" if name else f"{kw} (anonymous)", size)
            self.done[ref] = t
            for m in die.children:
                if m.tag != TAG_MEMBER:
                    continue
                mt = self.of(m.attrs.get(AT_TYPE))
                loc = m.attrs.get(AT_DATA_MEMBER_LOCATION, 0)
                off = loc if isinstance(loc, int) else _const_location(loc)
                bits = r._attr(m, AT_BIT_SIZE) or 0
                bit_off = 0
                if bits and AT_DATA_BIT_OFFSET in m.attrs:      # DWARF 4+: from the start
                    unit = max(mt.size, 1)
                    whole = r._attr(m, AT_DATA_BIT_OFFSET)
                    off = whole // (8 * unit) * unit
                    bit_off = whole - off * 8
                elif bits and AT_BIT_OFFSET in m.attrs:         # DWARF 2/3: from the top bit
                    unit = r._attr(m, AT_BYTE_SIZE) or max(mt.size, 1)
                    bit_off = unit * 8 - r._attr(m, AT_BIT_OFFSET) - bits
                t.members.append((r._attr(m, AT_NAME) or "", off, mt, bit_off, bits))
            return t
        elif tag == TAG_ENUM:
            values = tuple((r._attr(c, AT_NAME) or "", r._attr(c, AT_CONST_VALUE) or 0)
                           for c in die.children if c.tag == TAG_ENUMERATOR)
            signed = any(v < 0 for _, v in values) or r._attr(die, AT_ENCODING) in (
                _ATE_SIGNED, _ATE_SIGNED_CHAR) or AT_TYPE not in die.attrs
            t = CType("enum", f"enum {name}" if name else "enum (anonymous)", size or 4,
                      signed=signed, enumerators=values)
        elif tag == TAG_ARRAY:
            elem = self.of(die.attrs.get(AT_TYPE))
            counts = []
            for sub in die.children:
                if sub.tag == TAG_SUBRANGE:
                    n = r._attr(sub, AT_COUNT)
                    if n is None:
                        ub = r._attr(sub, AT_UPPER_BOUND)
                        n = ub + 1 if isinstance(ub, int) else 0
                    counts.append(n)
            t = elem
            for n in reversed(counts or [0]):
                t = CType("array", f"{t.name}[{n}]", t.size * n, target=t, count=n)
        elif tag == TAG_SUBROUTINE:
            t = CType("function", "void (*)()", 0)
            self.done[ref] = t
            t.decl = self._function_decl(die)
        else:
            t = _VOID
        self.done[ref] = t
        return t


    def _function_decl(self, die: _Die) -> str:
        """A pointer to the function type die as gdb spells it:
        'int (*)(SSL*, void*, int)', '(void)' for no parameters."""
        ret = self.of(die.attrs.get(AT_TYPE)).spelled if AT_TYPE in die.attrs else "void"
        params = []
        for c in die.children:
            if c.tag == TAG_PARAM:
                params.append(self.of(c.attrs.get(AT_TYPE)).spelled)
            elif c.tag == TAG_UNSPECIFIED_PARAMS:
                params.append("...")
        if not params and die.attrs.get(AT_PROTOTYPED):
            params = ["void"]
        return f"{ret} (*)({', '.join(params)})"


def _const_location(expr: bytes) -> int:
    """A member offset given as a DWARF expression (DW_OP_plus_uconst n)."""
    if expr and expr[0] == 0x23:
        return _uleb(expr, 1)[0]
    return 0
