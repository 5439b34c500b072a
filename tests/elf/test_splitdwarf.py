"""Split DWARF (gcc -gsplit-dwarf): the inline index follows each skeleton
unit to its .dwo (under DW_AT_comp_dir, beside the binary, or by name in a
--debuginfo directory) or to the binary's .dwp package, and finds the same
inlined copies as in a build with the DWARF in the binary; without the
.dwo the checker says it cannot tell."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import debugfile
from bpfscope.elf.dwarf import InlineIndex

SRC = os.path.join(os.path.dirname(__file__), "..", "attach", "progs", "inlined.c")


def _gcc(out: str, *flags: str, cwd: str):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    r = subprocess.run(["gcc", "-O2", *flags, "-o", out, os.path.abspath(SRC)],
                       capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, r.stderr


def _addrs(idx: InlineIndex, func: str) -> list[int]:
    return [s.addr for s in idx.sites(func)]


def _pair(tmp_path, v: int):
    """(plain binary, split binary, its .dwo, DWARF version) of inlined.c."""
    plain = str(tmp_path / "plain")
    _gcc(plain, f"-gdwarf-{v}", cwd=str(tmp_path))
    d = tmp_path / "split"
    d.mkdir()
    prog = str(d / "prog")
    _gcc(prog, f"-gdwarf-{v}", "-gsplit-dwarf", cwd=str(d))
    dwos = [f for f in os.listdir(d) if f.endswith(".dwo")]
    assert len(dwos) == 1, dwos
    return plain, prog, str(d / dwos[0]), v


@pytest.fixture(params=[4, 5], ids=["dwarf4", "dwarf5"])
def built(request, tmp_path):
    return _pair(tmp_path, request.param)


def _same_sites(got: InlineIndex, plain: str):
    want = InlineIndex(plain)
    for f in ("compute", "helper"):
        assert _addrs(got, f) and _addrs(got, f) == _addrs(want, f), f


def test_dwo_beside_the_binary(built):
    plain, prog, dwo, _ = built
    got = InlineIndex(prog)
    assert got.split_files == [dwo] and got.missing_dwo == []
    assert len(got.skeletons) == 1
    _same_sites(got, plain)


def test_dwo_by_name_in_a_debuginfo_dir(built, tmp_path):
    plain, prog, dwo, _ = built
    moved = str(tmp_path / "dbg" / os.path.basename(dwo))
    os.makedirs(os.path.dirname(moved))
    shutil.move(dwo, moved)
    lost = InlineIndex(prog)
    assert lost.missing_dwo == [dwo] and lost.sites("compute") == []  # as gcc named it
    debugfile.set_search_dirs([os.path.dirname(moved)])
    got = InlineIndex(prog)
    assert got.split_files == [moved]
    assert _addrs(got, "compute") == _addrs(InlineIndex(plain), "compute")


def test_missing_dwo_cannot_tell(built, assert_cannot_tell):
    _, prog, dwo, _ = built
    assert_cannot_tell(prog, dwo, f"its split DWARF ({dwo}) is not found")


def test_dwp_package(tmp_path):
    # binutils' dwp packs DWARF 4 split units (it fails on DWARF 5 here)
    if shutil.which("dwp") is None:
        pytest.skip("dwp (binutils) is not installed")
    plain, prog, dwo, _ = _pair(tmp_path, 4)
    r = subprocess.run(["dwp", "-e", prog, "-o", prog + ".dwp"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"dwp failed: {r.stderr.strip()[-200:]}")
    os.unlink(dwo)
    got = InlineIndex(prog)
    assert got.split_files == [prog + ".dwp"] and got.missing_dwo == []
    _same_sites(got, plain)


def test_dwarf5_dwp_package(tmp_path):
    # no tool here packs DWARF 5 (binutils' dwp crashes on it): a
    # one-unit package is the .dwo plus a .debug_cu_index whose one row
    # points at the whole of each of its sections
    import struct

    from bpfscope.elf import ElfFile
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy is not installed")
    plain, prog, dwo, _ = _pair(tmp_path, 5)
    skel = InlineIndex(prog).skeletons[0]
    with ElfFile(dwo) as e:
        cols = [(1, ".debug_info.dwo"), (3, ".debug_abbrev.dwo"),
                (6, ".debug_str_offsets.dwo"), (8, ".debug_rnglists.dwo")]
        cols = [(c, e.section(n).size) for c, n in cols if e.section(n) is not None]
    n = len(cols)
    index = struct.pack("<HHIII", 5, 0, n, 1, 2)
    index += struct.pack("<QQ", 0x1234, skel.dwo_id)   # the unit in slot 1
    index += struct.pack("<II", 0, 1)
    index += struct.pack(f"<{n}I", *(c for c, _ in cols))
    index += struct.pack(f"<{n}I", *([0] * n))
    index += struct.pack(f"<{n}I", *(size for _, size in cols))
    (tmp_path / "index").write_bytes(index)
    subprocess.run(["objcopy", f"--add-section=.debug_cu_index={tmp_path / 'index'}",
                    dwo, prog + ".dwp"], check=True, capture_output=True)
    os.unlink(dwo)
    got = InlineIndex(prog)
    assert got.split_files == [prog + ".dwp"] and got.missing_dwo == []
    _same_sites(got, plain)
