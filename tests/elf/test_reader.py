"""bpfscope.elf.reader: headers, segments, symbols, notes, offsets."""

import os
import shutil
import subprocess

import pytest

from bpfscope.elf.reader import ET_DYN, ET_EXEC, PT_LOAD, ElfError, ElfFile
from bpfscope.errors import BpfscopeError

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def _readelf(*args):
    if shutil.which("readelf") is None:
        pytest.skip("readelf is not installed")
    return subprocess.run(["readelf", "-W", *args], capture_output=True,
                          text=True, check=True).stdout


def test_header_and_type(symprog, symprog_nopie):
    with ElfFile(symprog) as e:
        assert e.e_type == ET_DYN and e.is_pie and e.type_name == "DYN"
        assert e.e_machine == 62
        assert e.interpreter and "ld-linux" in e.interpreter
    with ElfFile(symprog_nopie) as e:
        assert e.e_type == ET_EXEC and not e.is_pie
        assert e.base_vaddr == 0x400000


def test_sections_match_readelf(symprog):
    out = _readelf("-S", symprog)
    with ElfFile(symprog) as e:
        names = [s.name for s in e.sections]
        for want in (".text", ".dynsym", ".symtab", ".strtab", ".note.gnu.build-id"):
            assert want in names
            assert f" {want} " in out
        text = e.section(".text")
        line = next(l for l in out.splitlines() if " .text " in l)
        assert f"{text.addr:016x}" in line and f"{text.offset:06x}" in line
        assert e.section(".nope") is None
        assert e.has_symtab


def test_segments_match_readelf(symprog_nopie):
    out = _readelf("-l", symprog_nopie)
    with ElfFile(symprog_nopie) as e:
        loads = e.load_segments
        rows = [l.split() for l in out.splitlines() if l.strip().startswith("LOAD")]
        assert len(rows) == len(loads)
        for seg, row in zip(loads, rows):
            assert seg.type == PT_LOAD
            assert int(row[1], 16) == seg.offset
            assert int(row[2], 16) == seg.vaddr
            assert int(row[4], 16) == seg.filesz
            assert int(row[5], 16) == seg.memsz


def test_symbols_match_nm(symprog, nm):
    with ElfFile(symprog) as e:
        ours = {(s.name, s.value) for s in e.symbols(".symtab")
                if s.shndx and s.name and s.type in ("FUNC", "OBJECT", "IFUNC")}
    theirs = {(n, a) for n, a, t in nm(symprog) if t in "tTdDbBrRiV"}
    assert ours - theirs == set()
    for name in ("main", "add_numbers", "work", "work.cold", "static_helper",
                 "global_counter", "ro_message", "picked"):
        assert any(n == name for n, _ in ours), name


def test_symbol_fields(symprog):
    with ElfFile(symprog) as e:
        by = {s.name: s for s in e.symbols(".symtab")}
        assert by["add_numbers"].type == "FUNC"
        assert by["add_numbers"].bind == "GLOBAL"
        assert by["add_numbers"].section == ".text"
        assert by["add_numbers"].size > 0
        assert by["static_helper"].bind == "LOCAL"
        assert by["global_counter"].type == "OBJECT"
        assert by["global_counter"].section == ".data"
        assert by["global_counter"].size == 4
        assert by["static_buf"].section == ".bss"
        assert by["static_buf"].size == 64
        assert by["ro_message"].section == ".rodata"
        assert by["ro_message"].size == 6
        assert by["picked"].type == "IFUNC"
        assert by["work.cold"].type == "FUNC"
        undef = [s for s in e.symbols(".dynsym") if s.name == "printf"]
        assert undef and not undef[0].defined and undef[0].section == ""
        assert undef[0].version == "GLIBC_2.2.5"


def test_libc_dynsym_matches_nm(nm):
    if not os.path.exists(LIBC):
        pytest.skip("no libc.so.6 at the Debian path")
    theirs = nm(LIBC, dynamic=True)
    with ElfFile(LIBC) as e:
        assert not e.has_symtab
        syms = e.symbols()
    ours = set()
    for s in syms:
        if s.defined and s.name:
            sep = "@@" if s.default_version else "@"
            # Version-definition symbols (GLIBC_2.35, ABS) print bare.
            versioned = s.version and s.version != s.name
            ours.add((f"{s.name}{sep}{s.version}" if versioned else s.name, s.value))
    theirs = {(n, a) for n, a, t in theirs}
    assert ours == theirs
    versions = {(s.version, s.default_version) for s in syms if s.name == "memcpy"}
    assert versions == {("GLIBC_2.14", True), ("GLIBC_2.2.5", False)}


def test_build_id_matches_readelf(symprog):
    out = _readelf("-n", symprog)
    line = next(l for l in out.splitlines() if "Build ID:" in l)
    with ElfFile(symprog) as e:
        assert e.build_id == line.split("Build ID:")[1].strip()
        notes = list(e.notes())
        assert any(n.name == "GNU" and n.type == 3 for n in notes)
        # .note.gnu.property is 8-aligned; its owner must still decode.
        assert all(n.name in ("GNU", "stapsdt") for n in notes)


def test_vaddr_to_offset_pie(symprog):
    with ElfFile(symprog) as e:
        by = {s.name: s for s in e.symbols(".symtab")}
        for name in ("main", "add_numbers", "work", "work.cold"):
            v = by[name].value
            off = e.vaddr_to_offset(v)
            seg = next(s for s in e.load_segments if s.contains_vaddr(v))
            assert off == v - seg.vaddr + seg.offset
            assert e.offset_to_vaddr(off) == v
            # The bytes at the offset are the function's code.
            assert e.read(off, 4) == e.read_vaddr(v, 4)
        bss = by["static_buf"].value
        assert e.vaddr_to_offset(bss) is None  # .bss has no file bytes
        assert e.vaddr_to_offset(0xFFFFFFFF0000) is None


def test_vaddr_to_offset_nopie(symprog_nopie):
    with ElfFile(symprog_nopie) as e:
        main = next(s for s in e.symbols(".symtab") if s.name == "main")
        assert main.value >= 0x401000
        # For ET_EXEC the text segment sits 0x400000 above its offset.
        assert e.vaddr_to_offset(main.value) == main.value - 0x400000


def test_load_bias():
    # Synthetic: take a real PIE and pretend it is mapped at 0x5555_5555_4000.
    if not os.path.exists(LIBC):
        pytest.skip("no libc")
    with ElfFile(LIBC) as e:
        text = next(s for s in e.load_segments if s.flags & 1)
        start = 0x7F00_0000_0000
        map_off = text.offset & ~0xFFF
        map_start = start + (text.vaddr & ~0xFFF)
        assert e.load_bias(map_start, map_off) == start
        assert e.load_bias(start, 0) == start


def test_load_bias_of_running_process():
    """Python's own libc mapping: bias + symbol = the runtime address."""
    import ctypes
    from bpfscope.elf.ldcache import read_proc_maps
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    maps = read_proc_maps(os.getpid())
    m = next((m for m in maps if m.contains(addr)), None)
    if m is None or "libc" not in os.path.basename(m.path):
        pytest.skip("getpid is not in a libc mapping here")
    with ElfFile(m.path) as e:
        bias = e.load_bias(m.start, m.offset)
        sym = next(s for s in e.symbols() if s.name == "getpid" and s.defined)
        assert bias + sym.value == addr


def test_rejects_non_elf(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(b"hello world, this is not an ELF file at all....." * 2)
    with pytest.raises(ElfError, match="not an ELF file"):
        ElfFile(str(p))
    short = tmp_path / "short"
    short.write_bytes(b"\x7fELF")
    with pytest.raises(ElfError, match="too short"):
        ElfFile(str(short))
    with pytest.raises(ElfError, match="cannot open"):
        ElfFile(str(tmp_path / "missing"))
    assert issubclass(ElfError, BpfscopeError)


def _fake_header(cls_byte, data_byte):
    ident = b"\x7fELF" + bytes([cls_byte, data_byte, 1]) + b"\0" * 9
    return ident + b"\0" * 48


def test_rejects_32bit_and_big_endian(tmp_path):
    p = tmp_path / "elf32"
    p.write_bytes(_fake_header(1, 1))
    with pytest.raises(ElfError, match="32-bit"):
        ElfFile(str(p))
    p = tmp_path / "elfbe"
    p.write_bytes(_fake_header(2, 2))
    with pytest.raises(ElfError, match="big-endian"):
        ElfFile(str(p))


def test_rejects_truncated(symprog, tmp_path):
    data = open(symprog, "rb").read()
    p = tmp_path / "trunc"
    p.write_bytes(data[:2000])  # section headers are at the end
    with pytest.raises(ElfError, match="truncated"):
        ElfFile(str(p))


def test_stripped_has_only_dynsym(symprog_stripped):
    with ElfFile(symprog_stripped) as e:
        assert not e.has_symtab
        assert e.symbols(".symtab") == []
        assert any(s.name == "printf" for s in e.symbols(".dynsym"))
