"""The interpreter's instruction semantics (it is the oracle for regalloc)."""

import pytest

from bpfscope.codegen import insn as I
from bpfscope.codegen.insn import Insn, R0, R1, R2, R10, encode
from bpfscope.codegen.interp import InterpError, Interpreter, run


def _run(*insns, **kw):
    return run(b"".join(encode(i) for i in insns) + encode(Insn(I.JMP | I.EXIT)), **kw)


def _binop(cls, op, a, b, off=0):
    return _run(Insn(I.LD_IMM64, R0, 0, 0, a & (2**64 - 1)),
                Insn(I.LD_IMM64, R1, 0, 0, b & (2**64 - 1)),
                Insn(cls | I.X | op, R0, R1, off))


@pytest.mark.parametrize("cls, op, a, b, off, want", [
    (I.ALU64, I.SUB, 1, 2, 0, 2**64 - 1),
    (I.ALU, I.SUB, 1, 2, 0, 2**32 - 1),                  # 32-bit ops zero-extend
    (I.ALU64, I.DIV, -7, 2, 0, (2**64 - 7) // 2),
    (I.ALU64, I.DIV, -7, 2, 1, 2**64 - 3),              # sdiv truncates to zero
    (I.ALU64, I.MOD, -7, 2, 1, 2**64 - 1),              # smod takes the dividend's sign
    (I.ALU64, I.DIV, 5, 0, 0, 0),                       # division by zero gives 0
    (I.ALU64, I.MOD, 5, 0, 0, 5),                       # modulo by zero keeps dst
    (I.ALU64, I.ARSH, -16, 2, 0, 2**64 - 4),
    (I.ALU, I.ARSH, 0x80000000, 31, 0, 2**32 - 1),
    (I.ALU64, I.LSH, 1, 65, 0, 2),                      # shift amount is masked
])
def test_alu(cls, op, a, b, off, want):
    assert _binop(cls, op, a, b, off) == want


def test_mov_imm_sign_extends_in_64_bit_and_not_in_32():
    assert _run(Insn(I.ALU64 | I.K | I.MOV, R0, 0, 0, -1)) == 2**64 - 1
    assert _run(Insn(I.ALU | I.K | I.MOV, R0, 0, 0, -1)) == 2**32 - 1


def test_jumps_signed_and_unsigned():
    def pick(op, a, b, cls=I.JMP):
        return _run(Insn(I.ALU64 | I.K | I.MOV, R1, 0, 0, a),
                    Insn(I.ALU64 | I.K | I.MOV, R0, 0, 0, 1),
                    Insn(cls | I.K | op, R1, 0, 1, b),
                    Insn(I.ALU64 | I.K | I.MOV, R0, 0, 0, 0))
    assert pick(I.JSLT, -1, 0) == 1 and pick(I.JLT, -1, 0) == 0
    assert pick(I.JSET, 6, 2) == 1 and pick(I.JSET, 4, 2) == 0
    assert pick(I.JEQ, -1, -1, I.JMP32) == 1


def test_stack_memory_and_call_clobbers():
    calls = []

    def helper(hid, args, mem):
        calls.append((hid, args[0], mem.read(args[1], 8)))
        return 42
    prog = b"".join(encode(i) for i in [
        Insn(I.ST | I.MEM | I.DW, R10, 0, -8, 1234),
        Insn(I.ALU64 | I.K | I.MOV, R1, 0, 0, 9),
        Insn(I.ALU64 | I.X | I.MOV, R2, R10),
        Insn(I.ALU64 | I.K | I.ADD, R2, 0, 0, -8),
        Insn(I.JMP | I.CALL, 0, 0, 0, 1),
        Insn(I.ALU64 | I.X | I.ADD, R0, R1),
        Insn(I.JMP | I.EXIT),
    ])
    vm = Interpreter(prog, call=helper)
    assert vm.run() == (42 + 0xDEADBEEFDEADBEEF) % 2**64
    assert calls == [(1, 9, 1234)]


def test_errors():
    with pytest.raises(InterpError, match="invalid memory access"):
        _run(Insn(I.LDX | I.MEM | I.DW, R0, R10, 0))
    with pytest.raises(InterpError, match="step limit"):
        Interpreter(encode(Insn(I.JMP | I.JA, 0, 0, -1)), max_steps=100).run()
