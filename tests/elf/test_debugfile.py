"""Separate debug files (bpfscope.elf.debugfile): a program built with -g,
split with ``objcopy --only-keep-debug`` and ``strip --strip-all``, its
debug file placed by build-id, by .gnu_debuglink (next to the file, in
.debug/, under a debug root) or by path in a temporary directory given as
``--debuginfo`` would (never under the real /usr/lib/debug); the stripped
file's symbols, offsets and DWARF then come out as the unstripped one's.
Compressed debug sections (gcc -gz, objcopy's zlib, zlib-gnu and zstd)
are read or refused by name; MiniDebugInfo (.gnu_debugdata) gives symbols
too."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfError, ElfFile, SymbolTable, debugfile, table_of
from bpfscope.elf.debugfile import candidates, debuglink, file_crc32, find_debug_file
from bpfscope.elf.dwarf import InlineIndex, debug_file

SRC = os.path.join(os.path.dirname(__file__), "progs", "debugprog.c")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _tools():
    for t in ("gcc", "objcopy", "strip"):
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed")


def _run(*cmd, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"


class Split:
    """full: the program as built; stripped: without any symbols or debug
    info; debug: the --only-keep-debug file; linked: stripped plus a
    .gnu_debuglink naming 'prog.debug'."""

    def __init__(self, d, *cflags, keep_debug_flags=()):
        _tools()
        os.makedirs(d, exist_ok=True)
        self.dir = str(d)
        self.full = os.path.join(self.dir, "prog")
        _run("gcc", "-O2", "-g", "-Wl,--build-id", *cflags, "-o", self.full, SRC)
        self.debug = os.path.join(self.dir, "prog.debug")
        _run("objcopy", "--only-keep-debug", *keep_debug_flags, self.full, self.debug)
        self.stripped = os.path.join(self.dir, "stripped")
        _run("strip", "--strip-all", "-o", self.stripped, self.full)
        self.linked = os.path.join(self.dir, "linked")
        # objcopy reads the debug file to compute the CRC: run where it is
        _run("objcopy", "--add-gnu-debuglink=prog.debug", self.stripped, self.linked,
             cwd=self.dir)
        with ElfFile(self.full) as e:
            self.build_id = e.build_id
        assert self.build_id

    def move_debug(self, dest: str) -> str:
        """Put the debug file at dest (the old place emptied)."""
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.move(self.debug, dest)
        self.debug = dest
        return dest

    def by_build_id(self, root: str) -> str:
        b = self.build_id
        return self.move_debug(os.path.join(root, ".build-id", b[:2], b[2:] + ".debug"))


@pytest.fixture
def split(tmp_path):
    return Split(tmp_path / "bin")


def _same_symbols(full: str, other: str):
    a, b = SymbolTable(full), SymbolTable(other)
    for name in ("main", "dbg_worker", "dbg_static"):
        sa, sb = a.lookup_one(name), b.lookup_one(name)
        assert sa is not None and sb is not None, name
        assert (sa.value, sa.size) == (sb.value, sb.size), name
        # offsets for uprobes: the stripped file's own program headers
        assert b.elf.vaddr_to_offset(sb.value) == a.elf.vaddr_to_offset(sa.value)
    return b


# ------------------------------------------------------------ finding

def test_stripped_alone_has_no_debug_file(split):
    with ElfFile(split.stripped) as e:
        assert not e.has_symtab
        assert find_debug_file(e) is None
    assert SymbolTable(split.stripped).lookup_one("dbg_worker") is None


def test_build_id_under_a_debuginfo_dir(split, tmp_path):
    root = str(tmp_path / "dbg")
    want = split.by_build_id(root)
    debugfile.set_search_dirs([root])
    with ElfFile(split.stripped) as e:
        assert find_debug_file(e) == want
    st = _same_symbols(split.full, split.stripped)
    assert st.debug_path == want
    # the debug file's own code sections are NOBITS: never read for bytes
    with ElfFile(want) as d:
        assert d.section(".text").type == 8


def test_build_id_of_another_program_is_refused(split, tmp_path):
    other = Split(tmp_path / "other", "-DOTHER=1", "-fno-inline")
    root = str(tmp_path / "dbg")
    b = split.build_id
    assert other.build_id != b
    os.makedirs(os.path.join(root, ".build-id", b[:2]))
    shutil.copy(other.debug, os.path.join(root, ".build-id", b[:2], b[2:] + ".debug"))
    debugfile.set_search_dirs([root])
    with ElfFile(split.stripped) as e:
        assert find_debug_file(e) is None


def test_debuglink_names_and_crc(split):
    with ElfFile(split.linked) as e:
        name, crc = debuglink(e)
    assert name == "prog.debug"
    assert crc == file_crc32(split.debug)
    with ElfFile(split.stripped) as e:
        assert debuglink(e) is None


def test_debuglink_next_to_the_file(split):
    with ElfFile(split.linked) as e:
        assert find_debug_file(e) == split.debug
    _same_symbols(split.full, split.linked)


def test_debuglink_in_dot_debug(split):
    want = split.move_debug(os.path.join(split.dir, ".debug", "prog.debug"))
    with ElfFile(split.linked) as e:
        assert find_debug_file(e) == want


def test_debuglink_under_a_root_by_directory_and_flat(split, tmp_path):
    root = str(tmp_path / "dbg")
    want = split.move_debug(root + os.path.join(split.dir, "prog.debug"))
    debugfile.set_search_dirs([root])
    with ElfFile(split.linked) as e:
        assert find_debug_file(e) == want
    debugfile.forget()
    flat = split.move_debug(os.path.join(root, "prog.debug"))
    with ElfFile(split.linked) as e:
        assert find_debug_file(e) == flat
    _same_symbols(split.full, split.linked)


def test_debuglink_beside_the_file_a_symlink_points_to(split, tmp_path):
    (tmp_path / "lib").mkdir()
    link = tmp_path / "lib" / "prog"
    link.symlink_to(split.linked)
    with ElfFile(str(link)) as e:
        assert find_debug_file(e) == split.debug


def test_relative_path(split, monkeypatch):
    monkeypatch.chdir(split.dir)
    with ElfFile("linked") as e:
        assert find_debug_file(e) == split.debug


def test_debuglink_with_a_wrong_crc_is_refused(split):
    # another file of the linked name: the CRC tells it is not the one
    with open(split.debug, "ab") as f:
        f.write(b"\0")
    with ElfFile(split.linked) as e:
        assert find_debug_file(e) is None


def test_by_path_under_a_root(split, tmp_path):
    root = str(tmp_path / "dbg")
    want = split.move_debug(root + split.stripped + ".debug")
    debugfile.set_search_dirs([root])
    with ElfFile(split.stripped) as e:
        assert find_debug_file(e) == want
    _same_symbols(split.full, split.stripped)


def test_debuginfo_dirs_come_first_and_in_order(split, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    first = split.by_build_id(b)
    shutil.copy(first, root_copy := os.path.join(split.dir, "prog.debug"))
    debugfile.set_search_dirs([a, b])
    with ElfFile(split.linked) as e:
        got = [c for c, how in candidates(e)]
        assert find_debug_file(e) == first  # build-id before debuglink
    assert got.index(os.path.join(a, ".build-id", split.build_id[:2],
                                  split.build_id[2:] + ".debug")) == 0
    assert got.index(first) == 1
    assert got.index(os.path.join("/usr/lib/debug/.build-id", split.build_id[:2],
                                  split.build_id[2:] + ".debug")) == 2
    assert root_copy in got


def test_table_of_follows_the_search_dirs(split, tmp_path):
    root = str(tmp_path / "dbg")
    split.by_build_id(root)
    assert table_of(split.stripped).lookup_one("dbg_worker") is None
    debugfile.set_search_dirs([root])
    assert table_of(split.stripped).lookup_one("dbg_worker") is not None


def test_a_file_in_another_mount_namespace(split, tmp_path):
    # /proc/self/root/... is how a process's own view of a file is opened
    rooted = "/proc/self/root" + split.linked
    with ElfFile(rooted) as e:
        got = [c for c, how in candidates(e)]
        assert find_debug_file(e) == "/proc/self/root" + split.debug
    assert "/proc/self/root/usr/lib/debug" + split.dir + "/prog.debug" in got


def test_symbolize_through_the_debug_file(split, tmp_path):
    root = str(tmp_path / "dbg")
    split.by_build_id(root)
    debugfile.set_search_dirs([root])
    st = SymbolTable(split.stripped)
    w = st.lookup_one("dbg_static")   # a local symbol: in .symtab only
    assert w.bind == "LOCAL"
    assert st.symbolize(w.value + 1) == "dbg_static+1"
    assert "dbg_worker" in st.match("dbg_*")


# ------------------------------------------------------------ DWARF

def test_inline_sites_come_from_the_debug_file(split, tmp_path):
    root = str(tmp_path / "dbg")
    want = split.by_build_id(root)
    with ElfFile(split.stripped) as e:
        assert debug_file(e) is None
    debugfile.set_search_dirs([root])
    with ElfFile(split.stripped) as e:
        assert debug_file(e) == want
    full = InlineIndex(split.full).sites("dbg_compute")
    assert full and InlineIndex(want).sites("dbg_compute") == full


@pytest.mark.parametrize("how", ["gcc -gz", "objcopy zlib", "objcopy zlib-gnu"])
def test_compressed_debug_sections(tmp_path, how):
    cflags, kd = (), ()
    if how == "gcc -gz":
        cflags = ("-gz",)
    else:
        kd = (f"--compress-debug-sections={how.split()[1]}",)
    s = Split(tmp_path / "z", *cflags, keep_debug_flags=kd)
    with ElfFile(s.debug) as d:
        if how == "objcopy zlib-gnu":
            assert d.section(".zdebug_info") is not None
        else:
            assert d.section(".debug_info").flags & 0x800
    plain = InlineIndex(Split(tmp_path / "plain").full).sites("dbg_compute")
    debugfile.set_search_dirs([str(tmp_path / "dbg")])
    s.by_build_id(str(tmp_path / "dbg"))
    with ElfFile(s.stripped) as e:
        dbg = debug_file(e)
    assert dbg == s.debug
    assert InlineIndex(dbg).sites("dbg_compute") == plain


def test_zstd_sections_are_read_or_refused_by_name(tmp_path):
    s = Split(tmp_path / "zs")
    out = os.path.join(s.dir, "zstd.debug")
    r = subprocess.run(["objcopy", "--compress-debug-sections=zstd", s.debug, out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"objcopy cannot write zstd sections: {r.stderr.strip()}")
    from bpfscope.elf.reader import _zstd_decompressor
    with ElfFile(out) as d:
        sec = d.section(".debug_info")
        assert sec.flags & 0x800
        if _zstd_decompressor() is None:
            with pytest.raises(ElfError, match=r"zstd-compressed section \.debug_info "
                                               r"cannot be read"):
                d.section_bytes(".debug_info")
        else:
            with ElfFile(s.debug) as plain:
                assert d.section_bytes(".debug_info") == plain.section_bytes(".debug_info")


def test_corrupt_compressed_section_is_an_elf_error(tmp_path):
    s = Split(tmp_path / "c", "-gz")
    with ElfFile(s.full) as e:
        sec = e.section(".debug_info")
    data = bytearray(open(s.full, "rb").read())
    data[sec.offset + 24:sec.offset + 40] = b"\xff" * 16
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    with ElfFile(str(bad)) as e, pytest.raises(ElfError, match="corrupt"):
        e.section_bytes(".debug_info")


# ------------------------------------------------------------ Debian's libc6-dbg

def test_libc_start_thread_from_libc6_dbg():
    with ElfFile(LIBC) as e:
        if e.has_symtab:
            pytest.skip("this libc is not stripped")
        dbg = find_debug_file(e)
    if dbg is None:
        pytest.skip("libc6-dbg is not installed")
    st = SymbolTable(LIBC)
    sym = st.lookup_one("start_thread")
    assert sym is not None and st.debug_path == dbg
    assert st.symbolize(sym.value + 5) == "start_thread+5"
    assert st.elf.vaddr_to_offset(sym.value) is not None


def test_minidebuginfo(split, tmp_path):
    # Fedora's MiniDebugInfo: the symbols as an xz-compressed ELF file in
    # the stripped binary's .gnu_debugdata
    import lzma
    xz = tmp_path / "mini.xz"
    xz.write_bytes(lzma.compress(open(split.debug, "rb").read()))
    mini = str(tmp_path / "mini")
    _run("objcopy", f"--add-section=.gnu_debugdata={xz}", split.stripped, mini)
    st = _same_symbols(split.full, mini)
    assert st.debug_path is None
    assert st.symbolize(st.lookup_one("dbg_static").value + 2) == "dbg_static+2"
