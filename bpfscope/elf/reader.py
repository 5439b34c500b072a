"""ELF64 little-endian reader (ELF gABI, System V x86-64 psABI).

:class:`ElfFile` maps the file with ``mmap`` and decodes only what is asked
for: the file header at open, section and program headers on first use,
symbol tables when symbols are first needed (both ``.symtab`` and
``.dynsym``), notes and the GNU build-id on demand. Symbol tables are
decoded with ``struct.iter_unpack`` (C speed); names come from the string
table via ``bytes.find``.

Besides decoding, it answers the questions uprobes ask:

* :meth:`ElfFile.vaddr_to_offset` -- the file offset of a virtual address,
  through the ``PT_LOAD`` segment containing it (uprobe_events and
  perf_event_open's uprobe PMU take file offsets);
* :meth:`ElfFile.load_bias` -- for a mapping seen in /proc/PID/maps, what to
  add to an ELF virtual address to get the runtime address (0 for ET_EXEC).

Compressed sections (``SHF_COMPRESSED`` with zlib; zstd when this Python
has a zstd module; GNU's older ``.zdebug_*``) are inflated by
:meth:`ElfFile.section_data` and :meth:`ElfFile.section_bytes`.

Anything that is not an ELF64 little-endian file, or is truncated, raises
:class:`ElfError` with the path and one sentence.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from typing import Iterator, NamedTuple

from ..errors import BpfscopeError


class ElfError(BpfscopeError):
    """The file is not something this reader can use."""


# e_type
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
# e_machine
EM_X86_64 = 62
EM_AARCH64 = 183
# p_type
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
# p_flags
PF_X, PF_W, PF_R = 1, 2, 4
# sh_type
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 0, 1, 2, 3
SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 7, 8, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
# sh_flags; Elf64_Chdr's ch_type
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD = 1, 2
# special section indexes
SHN_UNDEF, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFFF1, 0xFFF2, 0xFFFF
PN_XNUM = 0xFFFF
# st_info
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STT_COMMON, STT_TLS, STT_GNU_IFUNC = 5, 6, 10
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
# notes
NT_GNU_BUILD_ID = 3

SYMBOL_TYPES = {
    STT_NOTYPE: "NOTYPE", STT_OBJECT: "OBJECT", STT_FUNC: "FUNC",
    STT_SECTION: "SECTION", STT_FILE: "FILE", STT_COMMON: "COMMON",
    STT_TLS: "TLS", STT_GNU_IFUNC: "IFUNC",
}
SYMBOL_BINDINGS = {
    STB_LOCAL: "LOCAL", STB_GLOBAL: "GLOBAL", STB_WEAK: "WEAK",
    STB_GNU_UNIQUE: "UNIQUE",
}

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
_NHDR = struct.Struct("<III")
_CHDR = struct.Struct("<IIQQ")


class Section(NamedTuple):
    """One section header, with its name resolved."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


class Segment(NamedTuple):
    """One program header."""

    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int

    def contains_vaddr(self, addr: int) -> bool:
        """True if addr is backed by file bytes of this segment."""
        return self.vaddr <= addr < self.vaddr + self.filesz


class Symbol(NamedTuple):
    """One symbol-table entry.

    ``type`` and ``bind`` are names ('FUNC', 'OBJECT', 'IFUNC', 'GLOBAL'...);
    ``section`` is the section name ('' for undefined, '*ABS*', '*COM*');
    ``table`` is 'symtab' or 'dynsym'; ``version`` is the GNU symbol version
    of a .dynsym entry ('' if none) and ``default_version`` whether it is
    the default one (``name@@VER`` rather than ``name@VER``).
    """

    name: str
    value: int
    size: int
    type: str
    bind: str
    section: str
    shndx: int
    visibility: int
    table: str
    version: str = ""
    default_version: bool = True

    @property
    def defined(self) -> bool:
        return self.shndx != SHN_UNDEF


class Note(NamedTuple):
    """One ELF note: owner name, type, descriptor bytes, and where it was."""

    name: str
    type: int
    desc: bytes
    section: str
    # File offset of the descriptor (usdt needs it for nothing, but tools do).
    desc_offset: int


class ElfFile:
    """An ELF64 little-endian file, mapped read-only.

    Use as a context manager or call :meth:`close`; the mapping is also
    released when the object is collected.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise ElfError(f"{self.path}: cannot open: {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < _EHDR.size:
                raise ElfError(f"{self.path}: not an ELF file (too short)")
            self._map = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._data = memoryview(self._map)
        self._parse_header()
        self._sections: list[Section] | None = None
        self._segments: list[Segment] | None = None
        self._symbols: dict[str, list[Symbol]] = {}

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        if self._map is not None:
            self._data.release()
            self._map.close()
            self._map = None

    def __enter__(self) -> "ElfFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- file header --------------------------------------------------------

    def _parse_header(self) -> None:
        ident = bytes(self._data[:16])
        if ident[:4] != b"\x7fELF":
            raise ElfError(f"{self.path}: not an ELF file")
        if ident[4] != 2:
            raise ElfError(f"{self.path}: 32-bit ELF files are not supported "
                           "(only ELF64)")
        if ident[5] != 1:
            raise ElfError(f"{self.path}: big-endian ELF files are not "
                           "supported (only little-endian)")
        (_, self.e_type, self.e_machine, _, self.entry, self.phoff, self.shoff,
         self.e_flags, _, phentsize, phnum, shentsize, shnum,
         shstrndx) = _EHDR.unpack_from(self._data, 0)
        self._phentsize, self._shentsize = phentsize, shentsize
        # Extended numbering (gABI): counts that do not fit 16 bits live in
        # section header 0.
        sh0 = None
        if self.shoff and (shnum == 0 or shstrndx == SHN_XINDEX
                           or phnum == PN_XNUM):
            sh0 = self._raw_shdr(0)
        if shnum == 0 and sh0 is not None:
            shnum = sh0[5]
        if shstrndx == SHN_XINDEX and sh0 is not None:
            shstrndx = sh0[6]
        if phnum == PN_XNUM and sh0 is not None:
            phnum = sh0[7]
        self._phnum, self._shnum, self._shstrndx = phnum, shnum, shstrndx
        if self.shoff and shnum and shentsize != _SHDR.size:
            raise ElfError(f"{self.path}: bad section header size {shentsize}")
        if self.phoff and phnum and phentsize != _PHDR.size:
            raise ElfError(f"{self.path}: bad program header size {phentsize}")
        if self.shoff + shnum * _SHDR.size > len(self._data) or \
                self.phoff + phnum * _PHDR.size > len(self._data):
            raise ElfError(f"{self.path}: truncated ELF file")

    def _raw_shdr(self, i: int) -> tuple:
        off = self.shoff + i * _SHDR.size
        if off + _SHDR.size > len(self._data):
            raise ElfError(f"{self.path}: truncated ELF file")
        return _SHDR.unpack_from(self._data, off)

    @property
    def is_pie(self) -> bool:
        """ET_DYN: position independent (a PIE executable or a shared library)."""
        return self.e_type == ET_DYN

    @property
    def is_shared(self) -> bool:
        return self.e_type == ET_DYN

    @property
    def type_name(self) -> str:
        return {ET_REL: "REL", ET_EXEC: "EXEC", ET_DYN: "DYN",
                ET_CORE: "CORE"}.get(self.e_type, str(self.e_type))

    # -- raw bytes ----------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """size bytes at a file offset (ElfError if outside the file)."""
        if offset < 0 or offset + size > len(self._data):
            raise ElfError(f"{self.path}: read past end of file "
                           f"(offset {offset:#x}, size {size})")
        return bytes(self._data[offset:offset + size])

    def read_vaddr(self, addr: int, size: int) -> bytes:
        """size bytes at a virtual address (through its PT_LOAD segment)."""
        off = self.vaddr_to_offset(addr)
        if off is None:
            raise ElfError(f"{self.path}: address {addr:#x} is not in the file")
        return self.read(off, size)

    # -- sections -----------------------------------------------------------

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            raw = [self._raw_shdr(i) for i in range(self._shnum)] \
                if self.shoff else []
            names = b""
            if 0 < self._shstrndx < len(raw):
                s = raw[self._shstrndx]
                names = self.read(s[4], s[5])
            out = []
            for i, r in enumerate(raw):
                out.append(Section(i, _cstr(names, r[0]), *r[1:]))
            self._sections = out
        return self._sections

    def section(self, name: str) -> Section | None:
        """The first section called name, or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_data(self, sec: Section) -> bytes:
        """A section's contents, inflated if it is SHF_COMPRESSED (b'' for
        SHT_NOBITS: the code sections of a separate debug file)."""
        if sec.type == SHT_NOBITS:
            return b""
        data = self.read(sec.offset, sec.size)
        if sec.flags & SHF_COMPRESSED:
            return self._inflate(sec, data)
        return data

    def section_bytes(self, name: str) -> bytes:
        """The contents of the section called name, inflated (b'' if there
        is none); a ``.debug_*`` section may also be GNU's older
        ``.zdebug_*`` form (zlib-gnu)."""
        sec = self.section(name)
        if sec is not None:
            return self.section_data(sec)
        if name.startswith(".debug_"):
            sec = self.section(".z" + name[1:])
            if sec is not None and sec.type != SHT_NOBITS:
                data = self.read(sec.offset, sec.size)
                if data[:4] != b"ZLIB" or len(data) < 12:
                    return data
                size = struct.unpack_from(">Q", data, 4)[0]
                return self._check_size(sec, _zlib_inflate(self, sec, data[12:]), size)
        return b""

    def _inflate(self, sec: Section, data: bytes) -> bytes:
        """An SHF_COMPRESSED section's bytes after its Elf64_Chdr."""
        if len(data) < _CHDR.size:
            raise ElfError(f"{self.path}: compressed section {sec.name} is truncated")
        ch_type, _res, size, _align = _CHDR.unpack_from(data, 0)
        body = data[_CHDR.size:]
        if ch_type == ELFCOMPRESS_ZLIB:
            out = _zlib_inflate(self, sec, body)
        elif ch_type == ELFCOMPRESS_ZSTD:
            inflate = _zstd_decompressor()
            if inflate is None:
                raise ElfError(f"{self.path}: zstd-compressed section {sec.name} cannot "
                               "be read: this Python has no zstd decompressor (Python "
                               "3.14's compression.zstd or the zstandard package)")
            try:
                out = inflate(body, size)
            except Exception as e:  # noqa: BLE001 - each library has its own
                raise ElfError(f"{self.path}: zstd-compressed section {sec.name} is "
                               f"corrupt ({e})") from None
        else:
            raise ElfError(f"{self.path}: section {sec.name} is compressed with an "
                           f"unknown method ({ch_type})")
        return self._check_size(sec, out, size)

    def _check_size(self, sec: Section, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise ElfError(f"{self.path}: compressed section {sec.name} inflates to "
                           f"{len(data)} bytes, not the {size} its header says")
        return data

    # -- segments -----------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            self._segments = [
                Segment(*_PHDR.unpack_from(self._data, self.phoff + i * _PHDR.size))
                for i in range(self._phnum)] if self.phoff else []
        return self._segments

    @property
    def load_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.type == PT_LOAD]

    @property
    def interpreter(self) -> str | None:
        for s in self.segments:
            if s.type == PT_INTERP:
                return self.read(s.offset, s.filesz).rstrip(b"\0").decode()
        return None

    def dynamic(self) -> list[tuple[int, int]]:
        """(d_tag, d_val) entries of the PT_DYNAMIC segment, up to DT_NULL."""
        seg = next((s for s in self.segments if s.type == PT_DYNAMIC), None)
        if seg is None:
            return []
        raw = self.read(seg.offset, seg.filesz)
        out = []
        for i in range(0, len(raw) - 15, 16):
            tag, val = struct.unpack_from("<qQ", raw, i)
            if tag == 0:
                break
            out.append((tag, val))
        return out

    def dependencies(self) -> tuple[list[str], list[str]]:
        """(DT_NEEDED names, search directories) of a dynamically linked
        file: DT_RUNPATH, else DT_RPATH, with $ORIGIN expanded."""
        dyn = self.dynamic()
        strtab = next((v for t, v in dyn if t == DT_STRTAB), None)
        if strtab is None:
            return [], []
        off = self.vaddr_to_offset(strtab)
        if off is None:
            return [], []

        def string(i: int) -> str:
            return _cstr(bytes(self._data[off + i:off + i + 4096]), 0)
        needed = [string(v) for t, v in dyn if t == DT_NEEDED]
        runpath = [string(v) for t, v in dyn if t == DT_RUNPATH] or \
            [string(v) for t, v in dyn if t == DT_RPATH]
        origin = os.path.dirname(os.path.abspath(self.path))
        dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                for rp in runpath for d in rp.split(":") if d]
        return needed, dirs

    def vaddr_to_offset(self, addr: int) -> int | None:
        """The file offset holding virtual address addr, or None.

        Uses the PT_LOAD segment whose file-backed part contains addr (the
        way the kernel maps it); a relocatable object (no program headers)
        falls back to section headers.
        """
        for s in self.segments:
            if s.type == PT_LOAD and s.contains_vaddr(addr):
                return addr - s.vaddr + s.offset
        if not self.segments:
            for s in self.sections:
                if s.type != SHT_NOBITS and s.addr and \
                        s.addr <= addr < s.addr + s.size:
                    return addr - s.addr + s.offset
        return None

    def offset_to_vaddr(self, offset: int) -> int | None:
        """The virtual address a file offset is loaded at, or None."""
        for s in self.segments:
            if s.type == PT_LOAD and s.offset <= offset < s.offset + s.filesz:
                return offset - s.offset + s.vaddr
        return None

    @property
    def base_vaddr(self) -> int:
        """Lowest PT_LOAD address, page aligned (0 for a typical PIE)."""
        loads = self.load_segments
        if not loads:
            return 0
        s = min(loads, key=lambda s: s.vaddr)
        align = s.align if s.align > 1 else 0x1000
        return s.vaddr & ~(align - 1)

    def load_bias(self, map_start: int, map_offset: int = 0) -> int:
        """What to add to an ELF vaddr to get a runtime address.

        map_start/map_offset come from a /proc/PID/maps line of this file.
        The kernel maps each PT_LOAD at page granularity, so for the segment
        covering map_offset: map_start = bias + vaddr - (offset - map_offset).
        ET_EXEC files are loaded where they say: bias 0.
        """
        if self.e_type == ET_EXEC:
            return 0
        for s in self.load_segments:
            page = s.offset & ~0xFFF
            if page <= map_offset < s.offset + max(s.filesz, 1):
                return map_start - map_offset - (s.vaddr - s.offset)
        # No segment covers the offset: assume the first one.
        loads = self.load_segments
        if loads:
            s = loads[0]
            return map_start - map_offset - (s.vaddr - s.offset)
        return map_start - map_offset

    # -- symbols --------------------------------------------------------

    def symbols(self, table: str | None = None) -> list[Symbol]:
        """Symbols of '.symtab', '.dynsym', or both (table=None), in file
        order; decoded on first call and cached."""
        if table is None:
            return self.symbols(".symtab") + self.symbols(".dynsym")
        if table not in self._symbols:
            self._symbols[table] = self._read_symbols(table)
        return self._symbols[table]

    @property
    def has_symtab(self) -> bool:
        return any(s.type == SHT_SYMTAB for s in self.sections)

    def _read_symbols(self, table: str) -> list[Symbol]:
        want = SHT_SYMTAB if table == ".symtab" else SHT_DYNSYM
        secs = self.sections
        tab = next((s for s in secs if s.type == want), None)
        if tab is None or tab.size == 0:
            return []
        if tab.entsize not in (0, _SYM.size):
            raise ElfError(f"{self.path}: bad symbol size {tab.entsize}")
        if not 0 < tab.link < len(secs):
            raise ElfError(f"{self.path}: {tab.name} has no string table")
        strtab = self.section_data(secs[tab.link])
        n = tab.size // _SYM.size
        raw = self.read(tab.offset, n * _SYM.size)
        versions = self._versions(tab) if want == SHT_DYNSYM else None
        secnames = [s.name for s in secs]
        nsec = len(secnames)
        special = {SHN_UNDEF: "", SHN_ABS: "*ABS*", SHN_COMMON: "*COM*"}
        types, binds = SYMBOL_TYPES, SYMBOL_BINDINGS
        kind = table[1:]
        find = strtab.find
        out = []
        append = out.append
        # tuple.__new__ skips NamedTuple's Python-level __new__ (2x faster
        # on tables with 100k entries).
        new, S = tuple.__new__, Symbol
        for i, (nm, info, other, shndx, value, size) in \
                enumerate(struct.iter_unpack("<IBBHQQ", raw)):
            if i == 0:
                continue  # the null symbol
            end = find(b"\0", nm)
            name = strtab[nm:end].decode("utf-8", "replace") if end > nm else ""
            secname = secnames[shndx] if shndx < nsec and shndx not in special \
                else special.get(shndx, "")
            t = info & 0xF
            b = info >> 4
            ver, default = ("", True) if versions is None else versions[i]
            append(new(S, (name, value, size, types.get(t) or str(t),
                           binds.get(b) or str(b), secname, shndx, other & 3,
                           kind, ver, default)))
        return out

    def _versions(self, dynsym: Section) -> list[tuple[str, bool]] | None:
        """(version, is_default) per .dynsym entry from .gnu.version and
        .gnu.version_d (definitions) / .gnu.version_r (needs)."""
        secs = self.sections
        versym = next((s for s in secs if s.type == SHT_GNU_VERSYM), None)
        if versym is None:
            return None
        names: dict[int, str] = {}
        strtab = self.section_data(secs[dynsym.link])
        for s in secs:
            if s.type == SHT_GNU_VERDEF:
                data, off = self.section_data(s), 0
                for _ in range(s.info):
                    # Elf64_Verdef: version, flags, ndx, cnt, hash, aux, next
                    _, _, ndx, cnt, _, aux, nxt = struct.unpack_from(
                        "<HHHHIII", data, off)
                    if cnt:
                        vda_name = struct.unpack_from("<I", data, off + aux)[0]
                        names[ndx] = _cstr(strtab, vda_name)
                    if not nxt:
                        break
                    off += nxt
            elif s.type == 0x6FFFFFFE:  # SHT_GNU_verneed
                data, off = self.section_data(s), 0
                for _ in range(s.info):
                    _, cnt, _, aux, nxt = struct.unpack_from("<HHIII", data, off)
                    a = off + aux
                    for _ in range(cnt):
                        _, _, other, vna_name, anext = struct.unpack_from(
                            "<IHHII", data, a)
                        names[other] = _cstr(strtab, vna_name)
                        if not anext:
                            break
                        a += anext
                    if not nxt:
                        break
                    off += nxt
        raw = self.section_data(versym)
        out = []
        for (v,) in struct.iter_unpack("<H", raw[:len(raw) & ~1]):
            idx = v & 0x7FFF
            # 0 local, 1 global (unversioned); bit 15 marks a hidden
            # (non-default) version.
            out.append((names.get(idx, "") if idx > 1 else "", not v & 0x8000))
        return out

    # -- notes ------------------------------------------------------------

    def notes(self) -> Iterator[Note]:
        """Every note in SHT_NOTE sections (or PT_NOTE segments if the
        file has no section headers)."""
        regions = [(s.name, s.offset, s.size, s.addralign)
                   for s in self.sections if s.type == SHT_NOTE]
        if not regions:
            regions = [("", s.offset, s.filesz, s.align)
                       for s in self.segments if s.type == PT_NOTE]
        for name, off, size, align in regions:
            # Notes are 4-byte aligned, except in 8-aligned note sections
            # (e.g. .note.gnu.property) where name and desc pad to 8.
            yield from self._notes_in(name, off, size, 8 if align == 8 else 4)

    def _notes_in(self, secname: str, off: int, size: int,
                  align: int) -> Iterator[Note]:
        data = self._data
        end = min(off + size, len(data))
        pad = align - 1
        while off + _NHDR.size <= end:
            namesz, descsz, ntype = _NHDR.unpack_from(data, off)
            name_off = off + _NHDR.size
            desc_off = name_off + ((namesz + pad) & ~pad)
            if desc_off + descsz > end:
                break
            name = bytes(data[name_off:name_off + namesz]).rstrip(b"\0")
            yield Note(name.decode("ascii", "replace"), ntype,
                       bytes(data[desc_off:desc_off + descsz]), secname,
                       desc_off)
            off = desc_off + ((descsz + pad) & ~pad)

    @property
    def build_id(self) -> str | None:
        """The GNU build-id as lowercase hex, or None."""
        for n in self.notes():
            if n.name == "GNU" and n.type == NT_GNU_BUILD_ID:
                return n.desc.hex()
        return None

    def __repr__(self) -> str:
        return f"ElfFile({self.path!r}, {self.type_name})"


def _zlib_inflate(elf: ElfFile, sec: Section, body: bytes) -> bytes:
    try:
        return zlib.decompress(body)
    except zlib.error as e:
        raise ElfError(f"{elf.path}: zlib-compressed section {sec.name} is "
                       f"corrupt ({e})") from None


def _zstd_decompressor():
    """A function (data, size) -> bytes from the zstd module this Python
    has (3.14's compression.zstd, or the zstandard package), or None."""
    try:
        from compression import zstd  # type: ignore[import-not-found]
        return lambda data, size: zstd.decompress(data)
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    return lambda data, size: zstandard.ZstdDecompressor().decompress(
        data, max_output_size=size)


def _cstr(buf: bytes, off: int) -> str:
    """The NUL-terminated string at off in buf."""
    end = buf.find(b"\0", off)
    if end < 0:
        end = len(buf)
    return buf[off:end].decode("utf-8", "replace")
