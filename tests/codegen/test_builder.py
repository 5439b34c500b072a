"""Exact instruction sequences produced by Builder + regalloc + assembly."""

import pytest

from bpfscope.codegen.builder import Builder, StackOverflow
from bpfscope.codegen.insn import R0, R1, R2, R10, VReg


def _counter_program():
    """@x[0]++ style: look up a map slot and increment it."""
    b = Builder()
    ctx = b.vreg()
    b.mov(ctx, R1)
    key = b.stack(8)
    zero = b.vreg()
    b.mov(zero, 0)
    b.stx(8, R10, key, zero)
    b.ld_map_fd(R1, "@x")
    b.mov(R2, R10)
    b.alu("add", R2, key)
    b.call("map_lookup_elem")
    val = b.vreg()
    b.mov(val, R0)
    out = b.label("out")
    b.jcond("eq", val, 0, out)
    n = b.vreg()
    b.ldx(8, n, val, 0)
    b.alu("add", n, 1)
    b.stx(8, val, 0, n)
    b.place(out)
    b.mov(R0, 0)
    b.exit_()
    return b


def test_counter_program_exact_disassembly():
    prog = _counter_program().finish()
    assert prog.disasm() == "\n".join([
        "0: (7a) *(u64 *)(r10 -8) = 0",  # the zero's register: an immediate
        "1: (18) r1 = map[@x]",
        "3: (bf) r2 = r10",
        "4: (07) r2 += -8",
        "5: (85) call bpf_map_lookup_elem#1",
        "6: (15) if r0 == 0x0 goto pc+3",
        "7: (79) r1 = *(u64 *)(r0 +0)",
        "8: (07) r1 += 1",
        "9: (7b) *(u64 *)(r0 +0) = r1",
        "10: (b7) r0 = 0",
        "11: (95) exit",
    ])
    assert prog.stack_size == 8
    assert prog.map_relocations == [(1, "@x")]
    assert prog.slot_count == 12


def test_encode_patches_map_fds():
    prog = _counter_program().finish()
    raw = prog.bytes()
    assert raw[1 * 8:1 * 8 + 8].hex() == "1811000000000000"
    patched = prog.encode({"@x": 5})
    assert patched[1 * 8:1 * 8 + 8].hex() == "1811000005000000"
    assert len(patched) == 12 * 8
    with pytest.raises(KeyError):
        prog.encode({"@y": 3})


def _lines(b):
    return b.finish().disasm().splitlines()


def test_value_live_across_call_goes_to_callee_saved():
    b = Builder()
    ctx = b.vreg()
    b.mov(ctx, R1)
    b.call("ktime_get_ns")
    t = b.vreg()
    b.mov(t, R0)
    b.ldx(4, t, ctx, 0)
    b.mov(R0, t)
    b.exit_()
    assert _lines(b) == [
        "0: (bf) r6 = r1",
        "1: (85) call bpf_ktime_get_ns#5",
        "2: (61) r0 = *(u32 *)(r6 +0)",
        "3: (95) exit",
    ]


def test_immediates_and_widths():
    b = Builder()
    v = b.vreg()
    b.mov(v, 0x1_0000_0000)          # needs ld_imm64
    b.mov(v, 0xFFFFFFFF, w=32)       # a 32-bit mov takes the low 32 bits
    b.alu("add", v, 1 << 40)         # 64-bit imm goes through a temporary
    b.alu("sdiv", v, 3)
    b.alu("smod", v, 3, w=32)
    b.alu("arsh", v, 3)
    b.alu("neg", v)
    b.alu("neg", v, w=32)
    b.mov(R0, v)
    b.exit_()
    # The sole value stays in r0, so no copy is needed before exit; the
    # peephole pass drops the ld_imm64 that the 32-bit mov overwrites.
    assert _lines(b) == [
        "0: (b4) w0 = -1",
        "1: (18) r1 = 0x10000000000",
        "3: (0f) r0 += r1",
        "4: (37) r0 s/= 3",
        "5: (94) w0 s%= 3",
        "6: (c7) r0 s>>= 3",
        "7: (87) r0 = -r0",
        "8: (84) w0 = -w0",
        "9: (95) exit",
    ]


def test_loads_stores_and_jumps():
    b = Builder()
    ctx = b.vreg()
    b.mov(ctx, R1)
    a, c = b.vreg(), b.vreg()
    b.ldx(1, a, ctx, 0)
    b.ldx(2, c, ctx, 2)
    top = b.label()
    b.place(top)
    b.st(4, R10, b.stack(4, align=4), 9)
    b.stx(2, R10, -8, c)
    b.jcond("sgt", a, c, top)
    b.jcond("le", a, 5, top, w=32)
    b.jcond("set", a, 0x1_0000_0000, top)
    b.mov(R0, a)
    b.exit_()
    assert _lines(b) == [
        "0: (71) r0 = *(u8 *)(r1 +0)",
        "1: (69) r2 = *(u16 *)(r1 +2)",
        "2: (62) *(u32 *)(r10 -4) = 9",
        "3: (6b) *(u16 *)(r10 -8) = r2",
        "4: (6d) if r0 s> r2 goto pc-3",
        "5: (b6) if w0 <= 0x5 goto pc-4",
        "6: (18) r1 = 0x100000000",
        "8: (4d) if r0 & r1 goto pc-7",
        "9: (95) exit",
    ]


def test_jump_forward_over_ld_imm64_counts_two_slots():
    b = Builder()
    end = b.label()
    c = b.vreg()
    b.mov(c, 1)
    b.mov(R0, 1)
    b.jcond("eq", c, 1, end)
    v = b.vreg()
    b.ld_imm64(v, -1)
    b.mov(R0, v)
    b.place(end)
    b.exit_()
    lines = _lines(b)
    assert lines[2:] == [
        "2: (15) if r1 == 0x1 goto pc+2",
        "3: (18) r0 = 0xffffffffffffffff",
        "5: (95) exit",
    ]


def test_unreachable_code_and_jumps_to_next_are_removed():
    b = Builder()
    end = b.label()
    b.mov(R0, 1)
    b.ja(end)
    b.mov(R0, 2)  # unreachable: the verifier would reject it
    b.place(end)
    b.exit_()
    assert _lines(b) == ["0: (b7) r0 = 1", "1: (95) exit"]


def test_stack_regions_do_not_overlap():
    b = Builder()
    assert b.stack(8) == -8
    assert b.stack(3, align=1) == -11
    assert b.stack(4, align=4) == -16
    assert b.stack(16) == -32
    assert b.stack_used == 32


def test_stack_overflow():
    b = Builder()
    b.stack(500)
    with pytest.raises(StackOverflow, match="512"):
        b.stack(16)
    assert issubclass(StackOverflow, ValueError)


def test_spills_overflowing_the_stack():
    b = Builder()
    b.stack(504)
    vs = [b.vreg() for _ in range(12)]
    for i, v in enumerate(vs):
        b.mov(v, i)
    acc = b.vreg()
    b.mov(acc, 0)
    for v in vs:
        b.alu("add", acc, v)
    b.mov(R0, acc)
    b.exit_()
    with pytest.raises(StackOverflow):
        b.finish()


def test_bad_arguments():
    b = Builder()
    with pytest.raises(ValueError):
        b.alu("rol", b.vreg(), 1)
    with pytest.raises(ValueError):
        b.ldx(3, b.vreg(), R10, -8)
    with pytest.raises(ValueError):
        b.jcond("lt", b.vreg(), 1, b.label(), w=16)
    b.ja(b.label("nowhere"))
    b.exit_()
    with pytest.raises(ValueError, match="never placed"):
        b.finish()


def test_vreg_ids_are_distinct():
    b = Builder()
    assert b.vreg() == VReg(0) and b.vreg() == VReg(1)
