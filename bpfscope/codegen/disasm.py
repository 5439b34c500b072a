"""Disassembler producing the syntax of the kernel verifier log.

Lines look like ``bpftool prog dump xlated`` and the verifier's log:
``5: (85) call bpf_map_lookup_elem#1`` -- the slot index, the opcode byte in
hex, then a C-like rendering (``w`` registers for 32-bit operations, ``s``
prefixes for signed operators).  LD_IMM64 takes two slots, so the numbering
skips one after it.  The load of a callback's address reads
``r2 = func[pc+N]`` (the offset counts from the next slot, like a jump's),
or ``r2 = func[name]`` when the function's name is known.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from bpfscope.codegen import insn as I
from bpfscope.codegen.helpers import helper_name
from bpfscope.codegen.insn import Insn, PReg, RawInsn, decode

_ALU_SYM = {
    I.ADD: "+=", I.SUB: "-=", I.MUL: "*=", I.DIV: "/=", I.OR: "|=", I.AND: "&=",
    I.LSH: "<<=", I.RSH: ">>=", I.MOD: "%=", I.XOR: "^=", I.MOV: "=", I.ARSH: "s>>=",
}
_SIGNED_ALU_SYM = {I.DIV: "s/=", I.MOD: "s%="}
_JMP_SYM = {
    I.JEQ: "==", I.JGT: ">", I.JGE: ">=", I.JSET: "&", I.JNE: "!=", I.JSGT: "s>",
    I.JSGE: "s>=", I.JLT: "<", I.JLE: "<=", I.JSLT: "s<", I.JSLE: "s<=",
}
_ATOMIC_NAME = {I.ADD: "add", I.AND: "and", I.OR: "or", I.XOR: "xor"}


def _size_name(code: int, signed: bool = False) -> str:
    return ("s" if signed else "u") + str(8 * I.SIZE_BYTES[code & 0x18])


def _s32(v: int) -> int:
    return I._s32(v)


def _text(ins: RawInsn, map_name: str | None, func_name: str | None = None) -> str:
    code, cls, op = ins.code, I.op_class(ins.code), I.op_code(ins.code)
    d, s, off, imm = ins.dst, ins.src, ins.off, ins.imm
    if cls in (I.ALU, I.ALU64):
        p = "r" if cls == I.ALU64 else "w"
        if op == I.NEG:
            return f"{p}{d} = -{p}{d}"
        if op == I.END:
            kind = "bswap" if cls == I.ALU64 else ("be" if code & I.X else "le")
            return f"r{d} = {kind}{imm} r{d}"
        if op == I.MOV and code & I.X and off:
            return f"{p}{d} = (s{off}){p}{s}"
        sym = _SIGNED_ALU_SYM.get(op, "?") if off == 1 and op in (I.DIV, I.MOD) \
            else _ALU_SYM.get(op, "?")
        rhs = f"{p}{s}" if code & I.X else str(_s32(imm))
        return f"{p}{d} {sym} {rhs}"
    if cls in (I.JMP, I.JMP32):
        if code == I.JMP | I.CALL and s == I.PSEUDO_KFUNC_CALL:
            return f"call kernel-function#{imm}"
        if code == I.JMP | I.CALL:
            name = helper_name(imm)
            return f"call {'bpf_' + name if name else 'unknown'}#{imm}"
        if code == I.JMP | I.EXIT:
            return "exit"
        if op == I.JA:
            return f"gotol pc{_s32(imm):+d}" if cls == I.JMP32 else f"goto pc{off:+d}"
        p = "r" if cls == I.JMP else "w"
        rhs = f"{p}{s}" if code & I.X else f"0x{imm & 0xFFFFFFFF:x}"
        return f"if {p}{d} {_JMP_SYM.get(op, '?')} {rhs} goto pc{off:+d}"
    mode = code & 0xE0
    if code == I.LD_IMM64:
        if s == I.PSEUDO_FUNC:
            return f"r{d} = func[{func_name or f'pc{_s32(imm):+d}'}]"
        if s == I.PSEUDO_MAP_VALUE:
            return f"r{d} = map[{map_name or f'id:{imm & 0xFFFFFFFF}'}][0]+{imm >> 32}"
        if s == I.PSEUDO_MAP_FD:
            return f"r{d} = map[{map_name}]" if map_name else f"r{d} = map[id:{imm}]"
        return f"r{d} = 0x{imm & 0xFFFFFFFFFFFFFFFF:x}"
    if cls == I.LDX and mode in (I.MEM, I.MEMSX):
        return f"r{d} = *({_size_name(code, mode == I.MEMSX)} *)(r{s} {off:+d})"
    if cls == I.STX and mode == I.MEM:
        return f"*({_size_name(code)} *)(r{d} {off:+d}) = r{s}"
    if cls == I.ST and mode == I.MEM:
        return f"*({_size_name(code)} *)(r{d} {off:+d}) = {_s32(imm)}"
    if cls == I.STX and mode == I.ATOMIC:
        addr = f"({_size_name(code)} *)(r{d} {off:+d})"
        p = "r" if code & 0x18 == I.DW else "w"
        if imm == I.XCHG:
            return f"{p}{s} = atomic{'64' if p == 'r' else ''}_xchg({addr}, {p}{s})"
        if imm == I.CMPXCHG:
            return f"{p}0 = atomic{'64' if p == 'r' else ''}_cmpxchg({addr}, {p}0, {p}{s})"
        base = imm & ~I.FETCH
        if imm & I.FETCH:
            return (f"{p}{s} = atomic{'64' if p == 'r' else ''}_fetch_"
                    f"{_ATOMIC_NAME.get(base, '?')}({addr}, {p}{s})")
        return f"lock *{addr} {_ALU_SYM.get(base, '?')} {p}{s}"
    return f"BUG_{code:02x}"


def _raw(ins: Insn) -> RawInsn:
    def n(r) -> int:
        if isinstance(r, PReg):
            return r.n
        if isinstance(r, int):
            return r
        raise ValueError(f"cannot disassemble virtual register {r!r}")
    imm = ins.imm
    if ins.code == I.LD_IMM64 and ins.src == I.PSEUDO_MAP_VALUE:
        imm <<= 32  # as decoded: the fd's slot low, the offset high
    return RawInsn(ins.code, n(ins.dst), n(ins.src), ins.off, imm)


def disassemble(insns_or_bytes: bytes | Iterable[Insn],
                map_names: Mapping[int, str] | Iterable[tuple[int, str]] | None = None,
                func_names: Mapping[int, str] | None = None) -> str:
    """One numbered line per instruction.

    ``map_names`` maps slot indices of map loads to names (a dict or a
    Program's ``map_relocations``).  A list of Insn carries its own names.
    ``func_names`` maps the first slot of each function to its name.
    """
    names = dict(map_names or {})
    funcs = dict(func_names or {})
    if isinstance(insns_or_bytes, (bytes, bytearray, memoryview)):
        raw = decode(bytes(insns_or_bytes))
        own: list[str | None] = [None] * len(raw)
    else:
        insns = list(insns_or_bytes)
        raw = [_raw(i) for i in insns]
        own = [i.map_name for i in insns]
    lines, slot = [], 0
    for ins, name in zip(raw, own):
        func = funcs.get(slot + 1 + _s32(ins.imm)) \
            if ins.code == I.LD_IMM64 and ins.src == I.PSEUDO_FUNC else None
        text = _text(ins, names.get(slot, name), func)
        lines.append(f"{slot}: ({ins.code:02x}) {text}")
        slot += ins.slots
    return "\n".join(lines)
