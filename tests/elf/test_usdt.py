"""bpfscope.elf.usdt: argument specs, note decoding, real programs."""

import struct

import pytest

from bpfscope.elf.reader import ElfError, ElfFile
from bpfscope.elf.symbols import SymbolTable
from bpfscope.elf.usdt import (PT_REGS_X86_64, Register, decode_note,
                               find_usdt_probes, parse_arg_spec,
                               read_usdt_probes)


def test_register_operand():
    a = parse_arg_spec("-4@%edi")
    assert (a.size, a.signed, a.kind) == (4, True, "reg")
    assert a.reg == Register("edi", "rdi", 4, 0, 112)
    a = parse_arg_spec("-8@%rax")
    assert (a.size, a.signed, a.reg.full, a.reg.pt_regs_offset) == (8, True, "rax", 80)
    a = parse_arg_spec("1@%ah")
    assert (a.reg.full, a.reg.width, a.reg.byte_offset) == ("rax", 1, 1)
    a = parse_arg_spec("-1@%r9b")
    assert (a.reg.full, a.reg.width, a.reg.pt_regs_offset) == ("r9", 1, 64)
    a = parse_arg_spec("2@%r10w")
    assert (a.size, a.signed, a.reg.full, a.reg.width) == (2, False, "r10", 2)
    assert parse_arg_spec("8@%r15d").reg.pt_regs_offset == 0
    assert parse_arg_spec("8@%sil").reg.full == "rsi"


def test_memory_operands():
    a = parse_arg_spec("8@-8(%rbp)")
    assert (a.kind, a.base.full, a.base.pt_regs_offset, a.disp, a.index) == \
        ("mem", "rbp", 32, -8, None)
    a = parse_arg_spec("8@16(%rsp,%rcx,8)")
    assert (a.base.full, a.index.full, a.scale, a.disp) == ("rsp", "rcx", 8, 16)
    assert (a.base.pt_regs_offset, a.index.pt_regs_offset) == (152, 88)
    a = parse_arg_spec("-4@(%rdx)")
    assert (a.size, a.signed, a.base.full, a.disp) == (4, True, "rdx", 0)
    a = parse_arg_spec("4@0x10(,%rax,4)")
    assert (a.base, a.index.full, a.scale, a.disp) == (None, "rax", 4, 16)
    a = parse_arg_spec("8@counter+8(%rip)")
    assert (a.base.full, a.disp_symbol, a.disp) == ("rip", "counter", 8)
    a = parse_arg_spec("8@counter(%rip)")
    assert (a.disp_symbol, a.disp) == ("counter", 0)
    a = parse_arg_spec("4@-0x20(%rbp,%rax)")
    assert (a.disp, a.index.full, a.scale) == (-32, "rax", 1)


def test_constant_operands():
    a = parse_arg_spec("4@$5")
    assert (a.kind, a.value, a.size, a.signed) == ("const", 5, 4, False)
    assert parse_arg_spec("-4@$-1").value == -1
    assert parse_arg_spec("8@$0x10").value == 16


def test_old_style_and_errors():
    a = parse_arg_spec("%rdi")  # no SIZE@ (oldest notes)
    assert (a.size, a.signed, a.reg.full) == (8, False, "rdi")
    for bad in ("3@%rdi", "4@%xyz", "4@$abc", "4@(%rax,%rbx,3)", "4@&foo"):
        with pytest.raises(ElfError):
            parse_arg_spec(bad)


def test_pt_regs_layout():
    assert PT_REGS_X86_64["rdi"] == 112 and PT_REGS_X86_64["rip"] == 128
    assert PT_REGS_X86_64["rsp"] == 152 and PT_REGS_X86_64["r15"] == 0
    assert sorted(PT_REGS_X86_64.values()) == list(range(0, 168, 8))


def _desc(pc, base, sem, prov, name, args):
    return struct.pack("<QQQ", pc, base, sem) + b"\0".join(
        s.encode() for s in (prov, name, args)) + b"\0"


def test_decode_note_and_prelink_adjustment():
    d = _desc(0x1130, 0x2004, 0x4010, "prov", "probe", "-4@%edi 8@$3")
    p = decode_note(d, 0x2004)
    assert (p.provider, p.name, p.pc, p.semaphore, p.base) == \
        ("prov", "probe", 0x1130, 0x4010, 0x2004)
    assert [a.spec for a in p.args] == ["-4@%edi", "8@$3"]
    # .stapsdt.base now sits 0x1000 higher: pc and semaphore move with it.
    p = decode_note(d, 0x3004)
    assert (p.pc, p.semaphore) == (0x2130, 0x5010)
    # No semaphore stays 0; no .stapsdt.base section means no adjustment.
    p = decode_note(_desc(0x1130, 0x2004, 0, "p", "n", ""), 0x3004)
    assert (p.pc, p.semaphore, p.args) == (0x2130, 0, [])
    assert decode_note(d, None).pc == 0x1130
    with pytest.raises(ElfError):
        decode_note(b"\0" * 10, None)


def test_probes_in_compiled_program(usdt_asm):
    probes = read_usdt_probes(usdt_asm)
    assert [(p.provider, p.name) for p in probes] == [
        ("myprov", "regs"), ("myprov", "forms"), ("myprov", "withsem"),
        ("other", "tick")]
    t = SymbolTable(usdt_asm)
    with ElfFile(usdt_asm) as e:
        base = e.section(".stapsdt.base").addr
        for p, site in zip(probes, ("site_regs", "site_forms", "site_sem", "site_other")):
            assert p.pc == t.lookup(site)[0].value
            assert p.base == base
            assert p.pc_offset == e.vaddr_to_offset(p.pc)
            assert e.read(p.pc_offset, 1) == b"\x90"  # the nop
    regs, forms, withsem, tick = probes
    # Registers the compiler picked: a 32-bit signed one and a 64-bit one.
    a0, a1 = regs.args
    assert (a0.kind, a0.size, a0.signed, a0.reg.width) == ("reg", 4, True, 4)
    assert (a1.kind, a1.size, a1.signed, a1.reg.width) == ("reg", 8, False, 8)
    assert forms.arg_str == ("-4@%edi 8@-8(%rbp) 4@$5 -8@%rax 8@16(%rsp,%rcx,8) "
                             "2@%ax 1@%ah -1@%r9b 8@counter+8(%rip) 8@(%rdx)")
    assert [a.kind for a in forms.args] == ["reg", "mem", "const", "reg", "mem",
                                            "reg", "reg", "reg", "mem", "mem"]
    assert withsem.semaphore == t.lookup("myprov_withsem_semaphore")[0].value
    assert withsem.semaphore_offset is not None
    with ElfFile(usdt_asm) as e:
        assert e.read(withsem.semaphore_offset, 2) == b"\0\0"
    assert regs.semaphore == 0 and regs.semaphore_offset is None
    assert tick.args[0].value == 42
    assert tick.full_name == "other:tick"


def test_find_probes_globs(usdt_asm):
    assert [p.name for p in find_usdt_probes(usdt_asm, "myprov", "*")] == \
        ["regs", "forms", "withsem"]
    assert [p.name for p in find_usdt_probes(usdt_asm, "*", "t*")] == ["tick"]
    assert find_usdt_probes(usdt_asm, "nope") == []


def test_no_probes(symprog):
    assert read_usdt_probes(symprog) == []


def test_sdt_header_program(usdt_sdt):
    """The same through <sys/sdt.h>, when systemtap-sdt-dev is installed."""
    probes = read_usdt_probes(usdt_sdt)
    by = {p.name: p for p in probes}
    assert set(by) == {"three", "zero"}
    three = by["three"]
    assert three.provider == "sdtprov"
    assert [a.size for a in three.args] == [4, 8, 8]
    assert three.args[0].signed and three.args[1].signed
    assert not three.args[2].signed
    assert by["zero"].args == []
    with ElfFile(usdt_sdt) as e:
        for p in probes:
            assert e.read(p.pc_offset, 1) == b"\x90"
