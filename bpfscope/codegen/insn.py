"""The eBPF instruction model: registers, labels, opcodes and encoding.

Opcode values and the 8-byte layout follow the kernel's instruction-set
specification (Documentation/bpf/standardization/instruction-set.rst):
``code:u8 | dst:4 src:4 | off:s16 | imm:s32``, little endian.  The opcode is
``class | size | mode`` for loads and stores and ``class | source | op`` for
ALU and jump instructions.

An :class:`Insn` may name virtual registers (before allocation) and a
:class:`Label` target (before assembly): a jump's, or for an LD_IMM64 with
``src == PSEUDO_FUNC`` the first instruction of the function it loads.
LD_IMM64 is a single Insn whose ``imm`` holds the whole 64-bit value; it
occupies two slots when encoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import count

# Instruction classes.
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)

# Sizes (load/store).
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
SIZE_BYTES = {B: 1, H: 2, W: 4, DW: 8}
SIZE_CODE = {v: k for k, v in SIZE_BYTES.items()}

# Modes (load/store).
IMM, ABS, IND, MEM, MEMSX, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0

# Source operand (ALU/JMP): immediate or register.
K, X = 0x00, 0x08

# ALU operations.
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70
NEG, MOD, XOR, MOV, ARSH, END = 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0

# Jump operations.
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70
CALL, EXIT, JLT, JLE, JSLT, JSLE = 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0

# Atomic operations (imm of an STX|ATOMIC instruction).
FETCH = 0x01
XCHG = 0xE0 | FETCH
CMPXCHG = 0xF0 | FETCH

# src_reg of LD_IMM64 meaning "imm is a map fd".
PSEUDO_MAP_FD = 1
# src_reg of CALL meaning "imm is the BTF id of a kernel function".
PSEUDO_KFUNC_CALL = 2
# src_reg of LD_IMM64 meaning "imm is the BTF id of a kernel variable".
PSEUDO_BTF_ID = 3
# src_reg of LD_IMM64 meaning "the address of a map's value (its only
# element) plus the offset in the second slot's imm".
PSEUDO_MAP_VALUE = 2
# src_reg of LD_IMM64 meaning "imm is the offset of a function (a callback),
# counted in slots from the next instruction".
PSEUDO_FUNC = 4

LD_IMM64 = LD | IMM | DW

ALU_OPS = {
    "add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "sdiv": DIV, "mod": MOD,
    "smod": MOD, "or": OR, "and": AND, "xor": XOR, "lsh": LSH, "rsh": RSH,
    "arsh": ARSH, "neg": NEG, "mov": MOV,
}
# The v4 ISA encodes signed division and modulo as off=1.
SIGNED_ALU_OPS = {"sdiv", "smod"}

JMP_OPS = {
    "eq": JEQ, "ne": JNE, "gt": JGT, "ge": JGE, "lt": JLT, "le": JLE,
    "sgt": JSGT, "sge": JSGE, "slt": JSLT, "sle": JSLE, "set": JSET,
}


def op_class(code: int) -> int:
    return code & 0x07


def op_code(code: int) -> int:
    return code & 0xF0


@dataclass(frozen=True)
class PReg:
    """A physical register r0..r10."""

    n: int

    def __repr__(self) -> str:
        return f"r{self.n}"


R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = (PReg(i) for i in range(11))
FP = R10
ARG_REGS = (R1, R2, R3, R4, R5)
CALLER_SAVED = (R0, R1, R2, R3, R4, R5)
CALLEE_SAVED = (R6, R7, R8, R9)


@dataclass(frozen=True)
class VReg:
    """A virtual register, replaced by a PReg or a stack slot by regalloc."""

    id: int

    def __repr__(self) -> str:
        return f"v{self.id}"


Reg = PReg | VReg

_label_ids = count()


@dataclass(eq=False)
class Label:
    """A jump target; identity is what matters, ``name`` is for humans."""

    name: str = ""
    id: int = field(default_factory=lambda: next(_label_ids))

    def __repr__(self) -> str:
        return f"L{self.id}" + (f"({self.name})" if self.name else "")


@dataclass
class Insn:
    """One instruction.  ``dst``/``src`` are registers or 0 when unused."""

    code: int
    dst: Reg | int = 0
    src: Reg | int = 0
    off: int = 0
    imm: int = 0
    map_name: str | None = None
    target: Label | None = None

    @property
    def slots(self) -> int:
        """How many 8-byte slots the encoded instruction takes."""
        return 2 if self.code == LD_IMM64 else 1

    def astuple(self) -> tuple:
        return (self.code, self.dst, self.src, self.off, self.imm)


def is_jump(ins: Insn) -> bool:
    """A jump with a target (not call/exit)."""
    return op_class(ins.code) in (JMP, JMP32) and op_code(ins.code) not in (CALL, EXIT)


def is_cond_jump(ins: Insn) -> bool:
    return is_jump(ins) and op_code(ins.code) != JA


def is_exit(ins: Insn) -> bool:
    return ins.code == JMP | EXIT


def is_call(ins: Insn) -> bool:
    return ins.code == JMP | CALL


def is_reg_move(ins: Insn) -> bool:
    """A 64-bit register-to-register copy (the only kind safe to coalesce)."""
    return ins.code == ALU64 | X | MOV and ins.off == 0


def _regs(*xs) -> list[Reg]:
    return [x for x in xs if isinstance(x, (PReg, VReg))]


def uses(ins: Insn) -> list[Reg]:
    """Registers an instruction reads (r10 included when named)."""
    cls, op = op_class(ins.code), op_code(ins.code)
    if cls in (ALU, ALU64):
        if op == MOV:
            return _regs(ins.src) if ins.code & X else []
        if op in (NEG, END):
            return _regs(ins.dst)
        return _regs(ins.dst, ins.src) if ins.code & X else _regs(ins.dst)
    if cls in (JMP, JMP32):
        if op == CALL:
            return list(ARG_REGS)
        if op == EXIT:
            return [R0]
        if op == JA:
            return []
        return _regs(ins.dst, ins.src) if ins.code & X else _regs(ins.dst)
    if cls == LDX:
        return _regs(ins.src)
    if cls == ST:
        return _regs(ins.dst)
    if cls == STX:
        if ins.code & 0xE0 == ATOMIC and ins.imm == CMPXCHG:
            return _regs(ins.dst, ins.src, R0)
        return _regs(ins.dst, ins.src)
    return []


def defs(ins: Insn) -> list[Reg]:
    """Registers an instruction writes (a call clobbers r0..r5)."""
    cls = op_class(ins.code)
    if cls in (ALU, ALU64, LDX) or ins.code == LD_IMM64:
        return _regs(ins.dst)
    if ins.code == JMP | CALL:
        return list(CALLER_SAVED)
    if cls == STX and ins.code & 0xE0 == ATOMIC:
        if ins.imm == CMPXCHG:
            return [R0]
        if ins.imm & FETCH:
            return _regs(ins.src)
    return []


def _regnum(r) -> int:
    if isinstance(r, PReg):
        return r.n
    if isinstance(r, VReg):
        raise ValueError(f"cannot encode virtual register {r!r}")
    return r


_SLOT = struct.Struct("<BBhi")


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def encode(ins: Insn, map_fd: int = 0) -> bytes:
    """The 8 or 16 bytes of a physical instruction with a numeric offset."""
    regs = (_regnum(ins.src) << 4) | _regnum(ins.dst)
    if ins.code == LD_IMM64:
        if ins.map_name is not None:
            # a map fd load, or a map value's address with imm its offset
            kind = PSEUDO_MAP_VALUE if ins.src == PSEUDO_MAP_VALUE else PSEUDO_MAP_FD
            regs = (kind << 4) | _regnum(ins.dst)
            lo, hi = map_fd, (ins.imm if kind == PSEUDO_MAP_VALUE else 0)
        else:
            lo, hi = ins.imm, ins.imm >> 32
        return _SLOT.pack(ins.code, regs, ins.off, _s32(lo)) + _SLOT.pack(0, 0, 0, _s32(hi))
    return _SLOT.pack(ins.code, regs, ins.off, _s32(ins.imm))


@dataclass(frozen=True)
class RawInsn:
    """A decoded instruction; ``imm`` of LD_IMM64 is the 64-bit value (unsigned)."""

    code: int
    dst: int
    src: int
    off: int
    imm: int

    @property
    def slots(self) -> int:
        return 2 if self.code == LD_IMM64 else 1


def decode(data: bytes) -> list[RawInsn]:
    """Split encoded bytes into instructions, joining LD_IMM64 slot pairs."""
    if len(data) % 8:
        raise ValueError("BPF program length is not a multiple of 8")
    out, i = [], 0
    while i < len(data):
        code, regs, off, imm = _SLOT.unpack_from(data, i)
        if code == LD_IMM64:
            if i + 16 > len(data):
                raise ValueError("truncated LD_IMM64 at end of program")
            hi = _SLOT.unpack_from(data, i + 8)[3]
            imm = (imm & 0xFFFFFFFF) | ((hi & 0xFFFFFFFF) << 32)
            i += 8
        out.append(RawInsn(code, regs & 0xF, regs >> 4, off, imm))
        i += 8
    return out
