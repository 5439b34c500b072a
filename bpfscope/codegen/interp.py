"""A small eBPF interpreter, for testing code generation without a kernel.

It executes encoded programs: ALU/ALU64 (incl. signed div/mod, movsx and
byte swaps), JMP/JMP32, LDX/ST/STX (incl. atomics), LD_IMM64 and exit, on
a :class:`Memory` made of byte-array regions at fake addresses.  r10 points
at the top of a 512-byte stack region.  Helper calls go to a callback; after
each call r1..r5 are overwritten with junk, as the kernel does not preserve
them, so code that wrongly relies on them fails here too.

Loading a function's address (LD_IMM64 with src PSEUDO_FUNC) gives a fake
address; a helper that takes a callback (bpf_for_each_map_elem) runs it
with :meth:`Interpreter.call_function`, in a frame of its own with its own
stack, r6..r9 of the caller kept, as the kernel does.
"""

from __future__ import annotations

from typing import Callable

from bpfscope.codegen import insn as I
from bpfscope.codegen.insn import RawInsn, decode
from bpfscope.codegen.stack import MAX_STACK

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
STACK_BASE = 0x7F00_0000_0000
FRAME_STRIDE = 0x1_0000  # stacks of nested frames, one above the other
FUNC_BASE = 0x6F00_0000_0000  # fake address of the function at slot 0
CLOBBER = 0xDEAD_BEEF_DEAD_BEEF


class InterpError(Exception):
    """The program did something the kernel would never allow at run time."""


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class Memory:
    """Byte-array regions at fixed fake addresses."""

    def __init__(self) -> None:
        self.regions: list[tuple[int, bytearray]] = []

    def add(self, base: int, buf: bytearray) -> int:
        self.regions.append((base, buf))
        return base

    def _find(self, addr: int, size: int) -> tuple[bytearray, int]:
        for base, buf in self.regions:
            if base <= addr and addr + size <= base + len(buf):
                return buf, addr - base
        raise InterpError(f"invalid memory access: {size} bytes at {addr:#x}")

    def read(self, addr: int, size: int) -> int:
        buf, i = self._find(addr, size)
        return int.from_bytes(buf[i:i + size], "little")

    def write(self, addr: int, size: int, value: int) -> None:
        buf, i = self._find(addr, size)
        buf[i:i + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


HelperFn = Callable[[int, list[int], Memory], int]


def _alu(op: int, dst: int, src: int, off: int, bits: int) -> int:
    mask = (1 << bits) - 1
    dst &= mask
    src &= mask
    signed = off == 1
    if op == I.ADD:
        return dst + src
    if op == I.SUB:
        return dst - src
    if op == I.MUL:
        return dst * src
    if op == I.DIV:
        if src == 0:
            return 0
        if signed:
            a, b = _sext(dst, bits), _sext(src, bits)
            q = abs(a) // abs(b)
            return -q if (a < 0) != (b < 0) else q
        return dst // src
    if op == I.MOD:
        if src == 0:
            return dst
        if signed:
            a, b = _sext(dst, bits), _sext(src, bits)
            r = abs(a) % abs(b)
            return -r if a < 0 else r
        return dst % src
    if op == I.OR:
        return dst | src
    if op == I.AND:
        return dst & src
    if op == I.XOR:
        return dst ^ src
    if op == I.LSH:
        return dst << (src & (bits - 1))
    if op == I.RSH:
        return dst >> (src & (bits - 1))
    if op == I.ARSH:
        return _sext(dst, bits) >> (src & (bits - 1))
    if op == I.NEG:
        return -dst
    if op == I.MOV:
        return _sext(src, off) if off else src
    raise InterpError(f"unknown ALU op {op:#x}")


def _cond(op: int, a: int, b: int, bits: int) -> bool:
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    sa, sb = _sext(a, bits), _sext(b, bits)
    return {
        I.JEQ: a == b, I.JNE: a != b, I.JGT: a > b, I.JGE: a >= b, I.JLT: a < b,
        I.JLE: a <= b, I.JSET: bool(a & b), I.JSGT: sa > sb, I.JSGE: sa >= sb,
        I.JSLT: sa < sb, I.JSLE: sa <= sb,
    }[op]


def _bswap(v: int, bits: int) -> int:
    return int.from_bytes((v & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


class Interpreter:
    """Runs one program; ``regs`` and ``memory`` stay inspectable afterwards."""

    def __init__(self, program: bytes, call: HelperFn | None = None,
                 memory: Memory | None = None, max_steps: int = 1_000_000,
                 map_value: Callable[[int, int], int] | None = None) -> None:
        self.insns: list[RawInsn] = decode(program)
        self.call = call
        self.map_value = map_value  # (map fd, offset) -> address, for PSEUDO_MAP_VALUE
        self.memory = memory or Memory()
        self.stack = bytearray(MAX_STACK)
        self.memory.add(STACK_BASE, self.stack)
        self.max_steps = max_steps
        self.regs = [0] * 11
        self.steps = 0
        self.depth = 0
        self._index: dict[int, int] = {}
        self._slots = [0]
        for i, ins in enumerate(self.insns):
            self._index[self._slots[-1]] = i
            self._slots.append(self._slots[-1] + ins.slots)

    def run(self, ctx: int = 0) -> int:
        r = self.regs
        r[1], r[10] = ctx & M64, STACK_BASE + MAX_STACK
        return self._exec(0)

    def call_function(self, addr: int, args: list[int]) -> int:
        """Run the function whose address a PSEUDO_FUNC load gave, with
        ``args`` in r1.., in a new frame; returns its r0."""
        slot = addr - FUNC_BASE
        if slot not in self._index:
            raise InterpError(f"call of {addr:#x}, not a function of this program")
        saved = list(self.regs)
        self.depth += 1
        try:
            base = STACK_BASE + self.depth * FRAME_STRIDE
            if not any(b == base for b, _ in self.memory.regions):
                self.memory.add(base, bytearray(MAX_STACK))
            self.regs[1:1 + len(args)] = [a & M64 for a in args]
            self.regs[10] = base + MAX_STACK
            ret = self._exec(self._index[slot])
        finally:
            self.depth -= 1
            self.regs[:] = saved
        return ret

    def _exec(self, pc: int) -> int:
        r = self.regs
        slots = self._slots
        while True:
            self.steps += 1
            if self.steps > self.max_steps:
                raise InterpError("step limit exceeded")
            if pc >= len(self.insns):
                raise InterpError("fell off the end of the program")
            ins = self.insns[pc]
            code, cls, op = ins.code, I.op_class(ins.code), I.op_code(ins.code)
            nxt = pc + 1
            if ins.dst == 10 and cls in (I.ALU, I.ALU64, I.LDX, I.LD):
                raise InterpError("r10 is read-only")
            if cls in (I.ALU, I.ALU64):
                bits = 64 if cls == I.ALU64 else 32
                src = r[ins.src] if code & I.X else ins.imm & M64
                if op == I.END:
                    v = r[ins.dst]
                    if cls == I.ALU64 or code & I.X:
                        v = _bswap(v, ins.imm)
                    r[ins.dst] = v & ((1 << ins.imm) - 1)
                else:
                    off = ins.off if op in (I.DIV, I.MOD, I.MOV) else 0
                    r[ins.dst] = _alu(op, r[ins.dst], src, off, bits) & ((1 << bits) - 1)
            elif cls in (I.JMP, I.JMP32):
                if code == I.JMP | I.EXIT:
                    return r[0]
                if code == I.JMP | I.CALL:
                    if self.call is None:
                        raise InterpError(f"call to helper {ins.imm} without a callback")
                    r[0] = self.call(ins.imm, list(r[1:6]), self.memory) & M64
                    for k in range(1, 6):
                        r[k] = CLOBBER
                elif op == I.JA:
                    off = ins.imm if cls == I.JMP32 else ins.off
                    nxt = self._target(slots[pc] + 1 + off)
                else:
                    bits = 64 if cls == I.JMP else 32
                    b = r[ins.src] if code & I.X else ins.imm & M64
                    if _cond(op, r[ins.dst], b, bits):
                        nxt = self._target(slots[pc] + 1 + ins.off)
            elif code == I.LD_IMM64 and ins.src == I.PSEUDO_FUNC:
                r[ins.dst] = FUNC_BASE + slots[pc] + 1 + I._s32(ins.imm)
            elif code == I.LD_IMM64 and ins.src == I.PSEUDO_MAP_VALUE:
                if self.map_value is None:
                    raise InterpError("map value address without a map_value callback")
                r[ins.dst] = self.map_value(ins.imm & M32, ins.imm >> 32) & M64
            elif code == I.LD_IMM64:
                r[ins.dst] = ins.imm & M64
            elif cls == I.LDX:
                size = I.SIZE_BYTES[code & 0x18]
                v = self.memory.read(r[ins.src] + ins.off, size)
                if code & 0xE0 == I.MEMSX:
                    v = _sext(v, 8 * size) & M64
                r[ins.dst] = v
            elif cls == I.ST:
                size = I.SIZE_BYTES[code & 0x18]
                self.memory.write(r[ins.dst] + ins.off, size, ins.imm)
            elif cls == I.STX and code & 0xE0 == I.MEM:
                size = I.SIZE_BYTES[code & 0x18]
                self.memory.write(r[ins.dst] + ins.off, size, r[ins.src])
            elif cls == I.STX and code & 0xE0 == I.ATOMIC:
                self._atomic(ins)
            else:
                raise InterpError(f"unsupported opcode {code:#04x}")
            pc = nxt

    def _target(self, slot: int) -> int:
        if slot not in self._index:
            raise InterpError(f"jump to slot {slot}, not an instruction boundary")
        return self._index[slot]

    def _atomic(self, ins: RawInsn) -> None:
        r = self.regs
        size = I.SIZE_BYTES[ins.code & 0x18]
        bits = 8 * size
        addr = r[ins.dst] + ins.off
        old = self.memory.read(addr, size)
        if ins.imm == I.XCHG:
            new = r[ins.src]
        elif ins.imm == I.CMPXCHG:
            new = r[ins.src] if old == r[0] & ((1 << bits) - 1) else old
            self.memory.write(addr, size, new)
            r[0] = old
            return
        else:
            new = _alu(ins.imm & ~I.FETCH, old, r[ins.src], 0, bits)
        self.memory.write(addr, size, new)
        if ins.imm & I.FETCH:
            r[ins.src] = old


def run(program: bytes, ctx: int = 0, call: HelperFn | None = None,
        memory: Memory | None = None) -> int:
    """Execute ``program`` and return r0 at exit."""
    return Interpreter(program, call, memory).run(ctx)
