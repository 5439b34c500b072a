"""Programs of several functions: a callback's own registers and frame,
the load of its address, assembly, disassembly and interpretation."""

import struct

import pytest

from bpfscope.codegen import insn as I
from bpfscope.codegen.builder import Builder, StackOverflow
from bpfscope.codegen.helpers import helper_id
from bpfscope.codegen.insn import R0, R1, R2, R3, R4, R10
from bpfscope.codegen.interp import Interpreter, Memory

CB_ARGS = ("map", "key", "value", "ctx")


def sum_program(b: Builder):
    """main sums the values of @m through bpf_for_each_map_elem and a
    callback that adds each value to a u64 on main's stack."""
    ctx = b.vreg()
    b.mov(ctx, R1)
    off = b.stack(8)
    b.st(8, R10, off, 0)
    cb = b.function("for_map_1", CB_ARGS)
    v, c, t, u = cb.vreg(), cb.vreg(), cb.vreg(), cb.vreg()
    cb.mov(v, R3)
    cb.mov(c, R4)
    cb.ldx(8, t, v, 0)
    cb.ldx(8, u, c, 0)
    cb.alu("add", u, t)
    cb.stx(8, c, 0, u)
    cb.mov(R0, 0)
    cb.exit_()
    b.ld_map_fd(R1, "@m")
    b.ld_func(R2, cb)
    b.mov(R3, R10)
    b.alu("add", R3, off)
    b.mov(R4, 0)
    b.call("for_each_map_elem")
    r = b.vreg()
    b.ldx(8, r, R10, off)
    b.mov(R0, r)
    b.exit_()
    return cb


def test_callback_assembled_after_main():
    b = Builder()
    sum_program(b)
    p = b.finish()
    assert p.functions == [(0, "main", ("ctx",)), (11, "for_map_1", CB_ARGS)]
    assert p.stack_size == 8
    assert p.disasm().splitlines() == [
        "main:",
        "0: (7a) *(u64 *)(r10 -8) = 0",
        "1: (18) r1 = map[@m]",
        "3: (18) r2 = func[for_map_1]",
        "5: (bf) r3 = r10",
        "6: (07) r3 += -8",
        "7: (b7) r4 = 0",
        "8: (85) call bpf_for_each_map_elem#164",
        "9: (79) r0 = *(u64 *)(r10 -8)",
        "10: (95) exit",
        "for_map_1:",
        # r3 and r4 are read at entry: the callback's arguments
        "11: (79) r1 = *(u64 *)(r3 +0)",
        "12: (79) r0 = *(u64 *)(r4 +0)",
        "13: (0f) r0 += r1",
        "14: (7b) *(u64 *)(r4 +0) = r0",
        "15: (b7) r0 = 0",
        "16: (95) exit",
    ]
    # the function load is PC-relative: 11 - (3 + 1); src_reg 4 (BPF_PSEUDO_FUNC)
    raw = p.bytes()[3 * 8:5 * 8]
    assert struct.unpack("<BBhi", raw[:8]) == (I.LD_IMM64, (4 << 4) | 2, 0, 7)
    assert struct.unpack("<BBhi", raw[8:]) == (0, 0, 0, 0)
    # without names, the disassembler shows the offset
    from bpfscope.codegen.disasm import disassemble
    assert disassemble(p.bytes()).splitlines()[2] == "3: (18) r2 = func[pc+7]"


def test_interpreter_runs_the_callback_per_element():
    b = Builder()
    sum_program(b)
    p = b.finish()
    values = [5, 7, 30]
    mem = Memory()
    bufs = [mem.add(0x1000 + 0x100 * i, bytearray(struct.pack("<Q", v)))
            for i, v in enumerate(values)]
    interp = Interpreter(p.bytes(), memory=mem)
    calls = []

    def helper(hid, args, memory):
        assert hid == helper_id("for_each_map_elem")
        _, fn, ctx, flags = args[:4]
        n = 0
        for addr in bufs:
            n += 1
            calls.append(addr)
            if interp.call_function(fn, [0, 0, addr, ctx]) == 1:
                break
        return n

    interp.call = helper
    assert interp.run() == 42
    assert calls == bufs
    assert interp.depth == 0


def test_frames_of_a_call_chain_share_512_bytes():
    b = Builder()
    sum_program(b)
    b.stack(480)
    cb2 = b.functions[0]
    cb2.stack(16)  # 8 + 480 -> 512 rounded, plus 32 for the callback
    with pytest.raises(StackOverflow, match="needed by for_map_1"):
        b.finish()


def test_callback_stack_limit_is_what_main_left():
    b = Builder()
    b.stack(400)
    cb = b.function("cb", CB_ARGS)
    assert cb.max_stack == 512 - 416
    with pytest.raises(StackOverflow, match="96 available"):
        cb.stack(100)
