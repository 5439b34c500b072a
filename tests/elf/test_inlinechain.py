"""elf.inlinechain: the inlined calls an address is in, with their call
sites, on progs/inlstack.c (main -> [inlined] outer -> [inlined] myclock
-> mid -> leaf) built by gcc at -O1 (low_pc/high_pc copies) and -O2
(DW_AT_ranges copies), DWARF 4 and 5; checked against addr2line -i."""

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import SymbolTable
from bpfscope.elf.inlinechain import InlineChain, SourceFrame, source_info

from .conftest import PROGS, _build

SOURCE = "inlstack.c"


def line_of(marker):
    with open(os.path.join(PROGS, SOURCE)) as f:
        for n, line in enumerate(f, 1):
            if marker in line:
                return n
    raise AssertionError(marker)


@pytest.fixture(scope="module",
                params=[("-O1", "-gdwarf-4"), ("-O1", "-gdwarf-5"),
                        ("-O2", "-gdwarf-4"), ("-O2", "-gdwarf-5")],
                ids=["O1-dwarf4", "O1-dwarf5", "O2-dwarf4", "O2-dwarf5"])
def prog(request, tmp_path_factory):
    return _build(tmp_path_factory, "gcc", SOURCE, "inlstack", *request.param)


def _short(frames):
    return [(f.function, f.inlined, os.path.basename(f.file or ""), f.line)
            for f in frames]


def test_the_call_in_myclock_is_three_frames_deep(prog):
    info = source_info(prog)
    addrs = info.lines.addresses(SOURCE, line_of("MYCLOCK_CALL"))
    assert addrs
    for a in addrs:
        assert _short(info.frames(a)) == [
            ("myclock", True, SOURCE, line_of("MYCLOCK_CALL")),
            ("outer", True, SOURCE, line_of("OUTER_CALL")),
            (None, False, SOURCE, line_of("MAIN_CALL"))]


def test_code_outside_inlined_copies_is_one_frame(prog):
    info = source_info(prog)
    with SymbolTable(prog) as st:
        leaf = st.lookup_one("leaf").value
    (f,) = info.frames(leaf)
    assert f.function is None and not f.inlined
    assert os.path.basename(f.file) == SOURCE


def test_nesting_depths_and_origins(prog):
    info = source_info(prog)
    chain = info.chain
    assert isinstance(chain, InlineChain)
    a = info.lines.addresses(SOURCE, line_of("MYCLOCK_CALL"))[0]
    copies = chain.at(a)
    assert [c.depth for c in copies] == [0, 1]
    assert [chain.name_of(c.origin) for c in copies] == ["outer", "myclock"]
    assert all(c.low <= a < c.high for c in copies)


def test_frames_match_addr2line(prog):
    addr2line = shutil.which("addr2line")
    if addr2line is None:
        pytest.skip("addr2line (binutils) is not installed")
    info = source_info(prog)
    with SymbolTable(prog) as st:
        main = st.lookup_one("main")
    addrs = sorted({r.addr for r in info.lines.rows
                    if main.value <= r.addr < main.value + main.size and not r.end})
    out = subprocess.run([addr2line, "-i", "-f", "-e", prog, *map(hex, addrs)],
                         capture_output=True, text=True, check=True).stdout
    # addr2line prints (function, file:line) pairs, innermost first, and
    # no marker between addresses: count each address's frames by ours
    pairs = out.split("\n")
    pos = 0
    for a in addrs:
        ours = info.frames(a)
        for f in ours:
            fn, where = pairs[pos], pairs[pos + 1]
            pos += 2
            assert fn == (f.function or "main"), hex(a)
            file, _, line = where.partition(" ")[0].rpartition(":")
            assert os.path.basename(file) == os.path.basename(f.file or "??"), hex(a)
            assert int(line) == f.line, hex(a)
    assert pos == len(pairs) - 1


def test_a_file_without_debug_info_has_none(tmp_path_factory):
    prog = _build(tmp_path_factory, "gcc", SOURCE, "inlstack_nodebug", "-O1")
    assert source_info(prog) is None


def test_source_frame_fields():
    f = SourceFrame("f", True, "a.c", 3)
    assert f.function == "f" and f.inlined and f.file == "a.c" and f.line == 3


def test_cxx_inlined_methods_are_named_as_the_symbol_table_names(tmp_path_factory):
    prog = _build(tmp_path_factory, "g++", "inlstack.cpp", "inlstack_cxx", "-O1", "-g")
    info = source_info(prog)
    (copy,) = {c.origin: c for c in info.chain._copies}.values()
    assert info.chain.name_of(copy.origin) == "shop::Cart::add(int)"
    assert info.chain.name_of(copy.origin, demangled=False) == "_ZN4shop4Cart3addEi"
    a = copy.low
    with open(os.path.join(PROGS, "inlstack.cpp")) as f:
        src = f.read().splitlines()
    main_call = next(n for n, ln in enumerate(src, 1) if "MAIN_CALL" in ln)
    f = info.frames(a)
    assert f[0].function == "shop::Cart::add(int)" and f[0].inlined
    assert (f[-1].function, f[-1].line) == (None, main_call)
    assert info.frames(a, demangled=False)[0].function == "_ZN4shop4Cart3addEi"
