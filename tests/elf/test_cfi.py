"""elf.cfi: the unwinding rows of .eh_frame, checked row by row against
binutils' readelf -wF on a program built without frame pointers and on
the system's libc, and the DWARF expressions of PLT entries."""

import re
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile
from bpfscope.elf.cfi import RA, RSP, FrameTable, evaluate, step

from .conftest import _build

_REGS = {"rax": 0, "rdx": 1, "rcx": 2, "rbx": 3, "rsi": 4, "rdi": 5, "rbp": 6, "rsp": 7,
         **{f"r{i}": i for i in range(8, 16)}, "ra": RA}


def readelf_rows(path):
    """{loc: (cfa text, {reg: rule text})} from readelf -wF."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf is not installed")
    text = subprocess.run(["readelf", "-wF", path], capture_output=True, text=True).stdout
    rows, cols, in_fde = {}, None, False
    for line in text.splitlines():
        parts = re.sub(r"(r\d+) \(\w+\)", r"\1", line).split()   # 'r9 (r9)': in r9
        if not parts:
            cols = None
        elif " CIE" in line or " FDE " in line:
            in_fde, cols = " FDE " in line, None
        elif parts[:2] == ["LOC", "CFA"]:
            cols = parts[2:] if in_fde else None
        elif cols and len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{8,16}", parts[0]):
            rows[int(parts[0], 16)] = (parts[1], dict(zip(cols, parts[2:])))
    return rows


def agree(table, rows, limit=None):
    checked = 0
    for loc, (cfa, regs) in sorted(rows.items())[:limit]:
        row = table.row_at(loc)
        assert row is not None, hex(loc)
        if cfa == "exp":
            assert row.cfa[0] == "expr", (hex(loc), row)
        else:
            reg, off = re.fullmatch(r"(\w+)([+-]\d+)", cfa).groups()
            assert row.cfa == (_REGS[reg], int(off)), (hex(loc), cfa, row)
        for name, rule in regs.items():
            got = row.regs.get(_REGS[name])
            if rule.startswith("c"):
                assert got == ("offset", int(rule[1:])), (hex(loc), name, rule, got)
            elif re.fullmatch(r"r\d+", rule):
                assert got == ("reg", int(rule[1:])), (hex(loc), name, rule, got)
            elif rule == "u":
                assert got in (None, ("undefined",)), (hex(loc), name, got)
        checked += 1
    return checked


@pytest.fixture(scope="module")
def nofp(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "dwargs.c", "nofp", "-O2", "-fomit-frame-pointer")


def test_rows_of_a_program_without_frame_pointers(nofp):
    with ElfFile(nofp) as elf:
        assert agree(FrameTable(elf), readelf_rows(nofp)) > 10


def test_rows_of_libc():
    path = "/lib/x86_64-linux-gnu/libc.so.6"
    with ElfFile(path) as elf:
        assert agree(FrameTable(elf), readelf_rows(path), limit=3000) == 3000


def test_the_plt_expression_and_a_step():
    # PLT entries: CFA = rsp + 8 + (((rip & 15) >= 11) << 3)
    expr = bytes([0x77, 0x08, 0x80, 0x00, 0x3F, 0x1A, 0x3B, 0x2A, 0x33, 0x24, 0x22])
    assert evaluate(expr, {7: 0x1000, 16: 0x4020}, lambda a: None) == 0x1008
    assert evaluate(expr, {7: 0x1000, 16: 0x402C}, lambda a: None) == 0x1010
    assert evaluate(expr, {16: 0x402C}, lambda a: None) is None  # rsp unknown

    from bpfscope.elf.cfi import Row
    stack = {0x1000 + 24: 0xAB, 0x1000 + 16: 0xCD}  # return address, saved rbp
    caller = step(Row((RSP, 32), {RA: ("offset", -8), 6: ("offset", -16)}),
                  {RA: 0x400, RSP: 0x1000, 6: 1, 3: 5}, stack.get)
    assert caller == {RA: 0xAB, 6: 0xCD, 3: 5, RSP: 0x1020}
    assert step(Row((RSP, 8), {RA: ("undefined",)}), {RA: 1, RSP: 2}, stack.get) is None


def test_rows_are_cached_per_pc_and_the_cache_starts_over(nofp, monkeypatch):
    from bpfscope.elf import cfi
    monkeypatch.setattr(cfi, "ROW_CACHE", 4)
    with ElfFile(nofp) as elf:
        table, fresh = FrameTable(elf), FrameTable(elf)
    pcs = [pc for f in table.fdes for pc in range(f.start, f.end, 3)][:40]
    first = [table.row_at(pc) for pc in pcs]
    assert len(table._rows) <= 4
    for pc, row in zip(pcs, first):
        assert table.row_at(pc) == row == fresh.row_at(pc)
    pc = pcs[-1]
    assert table.row_at(pc) is table.row_at(pc)     # from the cache
    assert table.row_at(0) is None and 0 in table._rows
