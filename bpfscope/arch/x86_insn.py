"""x86-64 instruction lengths, and which instructions a uprobe may sit on.

A uprobe replaces the first byte of an instruction with int3 and, when hit,
runs (single-steps out of line, or emulates) the original instruction. So
bpfscope must know, for every address it attaches to, that it is the start
of an instruction (:func:`boundaries`) and that the kernel handles that
instruction correctly (:func:`kernel_hazard`). :func:`decode` is a length
decoder for 64-bit mode: legacy prefixes, REX, the one-byte, 0F, 0F38 and
0F3A maps, ModRM/SIB/displacement/immediates, VEX (C5, C4), EVEX (62) and
XOP (8F); it is checked against objdump over whole functions of the system
libc in tests/arch.

What the kernel gets wrong, found by experiment (tests/attach/progs/
insn_entry.S: functions whose first instruction is of one class each, run
many times with a uprobe on the entry, results checked):

==========================================  ==========  =================
class (first instruction of the function)   Linux 6.18  (AVX-512 Xeon)
==========================================  ==========  =================
legacy integer, push, RIP-relative mov       correct
legacy SSE (movq, pshufd 66 0F 70, movdqu)   correct
VEX: vpbroadcastd (0F38 58), kmovq (0F 92),  correct
     bzhi (0F38 F5), vxorps (0F 57)
EVEX: vpbroadcastd zmm16 (0F38 58)           correct
EVEX vpbroadcastb esi->ymm17/xmm1 (0F38 7A)  CORRUPTS: not executed
EVEX vpbroadcastq rsi->zmm2/zmm31 (0F38 7C)  CORRUPTS: not executed
EVEX vpcmpeqb -> k1 (0F 74)                  CORRUPTS
VEX vpshufd (0F 70), vpor (0F EB),           CORRUPTS
    kmovw k,k (0F 90)
VEX vmovd/vmovq (0F 6E), vmovdqu (0F 6F);    never fires: the
EVEX vmovdqu64 (0F 6F), vpxorq (0F EF)       kernel silently does
                                             not install the probe
==========================================  ==========  =================

The pattern: the kernel classifies a VEX/EVEX instruction by its opcode
byte alone, as if it were a one-byte legacy opcode. Opcode bytes 70-7F (jcc
rel8), E8/E9 (call/jmp rel32), EB (jmp rel8) and 90 (nop) are then
*emulated* as that branch or nop instead of being executed (the vector
instruction never runs: glibc's __strchrnul_evex starts with EVEX 0F38 7A,
so strchrnul returns garbage and printf prints its directives); bytes the
kernel refuses as one-byte opcodes (in/out/ins/outs 6C-6F E4-E7 EC-EF, hlt,
int, and the opcodes invalid in 64-bit mode) make it refuse the probe
without telling anyone. :data:`EMULATED_AS_LEGACY` and
:data:`REFUSED_AS_LEGACY` hold those bytes; legacy-encoded instructions are
unaffected.

The VM lane's kernels (Debian 6.1 and 6.12, `tests/vm/vmlane.py run`)
run under QEMU's TCG with -cpu max, which has AVX2 but no AVX-512
(/proc/cpuinfo in the guest: avx2, no avx512f), so only the VEX, SSE and
legacy classes could be run there. Debian 6.12.117: the same as 6.18 (VEX
vpshufd 0F 70 and vpor 0F EB corrupt; vmovd 0F 6E and vmovdqu 0F 6F never
fire; VEX 0F38 58, bzhi, vxorps, SSE, legacy, push, RIP-relative correct).
Debian 6.1.0-57: identical to 6.12. The EVEX rows are from 6.18 only.
tests/vm/guest/test_uprobe_insn_classes.py repeats the experiment in the
lane (and on any AVX-512 host with the EVEX group): the same on all three.
VEX vzeroupper (0F 77) is 'emulated' too, but its test function's result
does not depend on it, so the experiment cannot see the difference.

:func:`placement` moves a probe whose entry instruction is hazardous to the
next instruction when the skipped ones only write vector or mask registers
(never a general register, memory, the stack or flags, never a branch) and
no branch inside the function lands on the new address or the skipped
instructions (nor can an indirect jump, which could land anywhere: a
function with one is not moved), so arg0..argN, the stack and the return
address are what they were at entry.
"""

from __future__ import annotations

from dataclasses import dataclass


class DecodeError(ValueError):
    """The bytes are not a (complete) 64-bit instruction."""


_LEGACY_PREFIXES = frozenset(b"\x26\x2e\x36\x3e\x64\x65\x66\x67\xf0\xf2\xf3")

# One-byte map: how many immediate bytes ('z' = 4, or 2 with a 66 prefix;
# 'v' = B8-BF: 8 with REX.W), and whether a ModRM follows.
_ONE_MODRM = set()
for _row in range(0, 0x40, 8):
    _ONE_MODRM.update(range(_row, _row + 4))
_ONE_MODRM.update({0x63, 0x69, 0x6B, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xF6, 0xF7,
                   0xFE, 0xFF, *range(0x80, 0x90), *range(0xD0, 0xD4),
                   *range(0xD8, 0xE0)})
_ONE_IMM: dict[int, object] = {}
for _row in range(0, 0x40, 8):
    _ONE_IMM[_row + 4], _ONE_IMM[_row + 5] = 1, "z"
_ONE_IMM.update({0x68: "z", 0x69: "z", 0x6A: 1, 0x6B: 1, 0x80: 1, 0x81: "z",
                 0x83: 1, 0xA8: 1, 0xA9: "z", 0xC0: 1, 0xC1: 1, 0xC2: 2,
                 0xC6: 1, 0xC7: "z", 0xC8: 3, 0xCA: 2, 0xCD: 1, 0xE8: 4, 0xE9: 4,
                 **{op: 1 for op in range(0x70, 0x80)}, 0xEB: 1,
                 **{op: 1 for op in range(0xE0, 0xE8)},
                 **{op: 1 for op in range(0xB0, 0xB8)},
                 **{op: "v" for op in range(0xB8, 0xC0)}})
# Invalid in 64-bit mode (62, C4, C5 and 8F are VEX/EVEX/XOP, handled first).
_ONE_INVALID = frozenset({0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F,
                          0x37, 0x3F, 0x60, 0x61, 0x82, 0x9A, 0xCE, 0xD4, 0xD5,
                          0xD6, 0xEA})
_REL8 = frozenset({*range(0x70, 0x80), *range(0xE0, 0xE4), 0xEB})

# 0F map: opcodes without ModRM, and immediates.
_TWO_NO_MODRM = frozenset({0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31,
                           0x32, 0x33, 0x34, 0x35, 0x37, 0x77, 0xA0, 0xA1, 0xA2,
                           0xA8, 0xA9, 0xAA, *range(0x80, 0x90),
                           *range(0xC8, 0xD0)})
_TWO_IMM8 = frozenset({0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4,
                       0xC5, 0xC6})
# VEX/EVEX map 1 opcodes with an imm8 (the rest of map 1 has none; map 3 all).
_VEX1_IMM8 = frozenset({0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6})

# See the module docstring: opcode bytes of VEX/EVEX/XOP instructions the
# kernel emulates as a legacy branch/nop, or refuses.
EMULATED_AS_LEGACY = frozenset({*range(0x70, 0x80), 0xE8, 0xE9, 0xEB, 0x90})
REFUSED_AS_LEGACY = frozenset({*_ONE_INVALID, 0x62, 0x6C, 0x6D, 0x6E, 0x6F,
                               0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF,
                               0xF4, 0xCC, 0xCD, 0xF1, 0xC4, 0xC5, 0x8F})

ENCODINGS = {"legacy": "legacy-encoded", "vex": "VEX-encoded", "evex": "EVEX-encoded",
             "xop": "XOP-encoded"}


@dataclass(frozen=True)
class Insn:
    """One decoded instruction. ``map`` is 0 (one-byte), 1 (0F), 2 (0F38),
    3 (0F3A), or the VEX/EVEX/XOP map number; ``reg``/``mod``/``rm`` the
    ModRM fields (-1 without one); ``target`` the address a relative
    branch goes to (None otherwise)."""
    addr: int
    raw: bytes
    encoding: str
    map: int
    opcode: int
    mod: int = -1
    reg: int = -1
    rm: int = -1
    prefixes: bytes = b""
    rex: int = 0
    target: int | None = None

    @property
    def length(self) -> int:
        return len(self.raw)

    @property
    def hex(self) -> str:
        return " ".join(f"{b:02x}" for b in self.raw)

    @property
    def is_branch(self) -> bool:
        """Changes the flow: a relative or indirect jump/call, ret, int..."""
        if self.target is not None:
            return True
        if self.map == 0 and self.encoding == "legacy":
            if self.opcode in (0xC2, 0xC3, 0xCA, 0xCB, 0xCC, 0xCD, 0xCF, 0xF4):
                return True
            return self.opcode == 0xFF and self.reg in (2, 3, 4, 5)
        return self.map == 1 and self.encoding == "legacy" and \
            self.opcode in (0x05, 0x07, 0x0B, 0x34, 0x35)


def _need(code: bytes, i: int, n: int = 1) -> None:
    if i + n > len(code):
        raise DecodeError("instruction runs past the end of the bytes")


def _modrm_len(code: bytes, i: int) -> tuple[int, int, int, int]:
    """(bytes of ModRM+SIB+displacement, mod, reg, rm) at code[i]."""
    _need(code, i)
    m = code[i]
    mod, reg, rm = m >> 6, (m >> 3) & 7, m & 7
    n = 1
    if mod == 3:
        return n, mod, reg, rm
    if rm == 4:
        _need(code, i + 1)
        sib = code[i + 1]
        n += 1
        if mod == 0 and sib & 7 == 5:
            n += 4
    elif mod == 0 and rm == 5:
        n += 4  # RIP-relative
    n += {1: 1, 2: 4}.get(mod, 0)
    return n, mod, reg, rm


def decode(code: bytes, pos: int = 0, addr: int = 0) -> Insn:
    """The instruction at code[pos:], which sits at address addr."""
    start = i = pos
    prefixes = bytearray()
    while i < len(code) and code[i] in _LEGACY_PREFIXES:
        prefixes.append(code[i])
        i += 1
        if i - start > 14:
            raise DecodeError("too many prefixes")
    rex = 0
    _need(code, i)
    if 0x40 <= code[i] <= 0x4F:
        rex = code[i]
        i += 1
    _need(code, i)
    op = code[i]
    opsize16 = 0x66 in prefixes
    # VEX / EVEX / XOP: a fixed prefix, then opcode and ModRM.
    if op in (0xC4, 0xC5, 0x62) or (op == 0x8F and i + 1 < len(code)
                                    and code[i + 1] & 0x1F >= 8):
        if op == 0xC5:
            _need(code, i, 2)
            enc, mp, i = "vex", 1, i + 2
        elif op == 0xC4:
            _need(code, i, 3)
            enc, mp, i = "vex", code[i + 1] & 0x1F, i + 3
        elif op == 0x62:
            _need(code, i, 4)
            enc, mp, i = "evex", code[i + 1] & 0x07, i + 4
        else:
            _need(code, i, 3)
            enc, mp, i = "xop", code[i + 1] & 0x1F, i + 3
        _need(code, i)
        opc = code[i]
        i += 1
        if enc == "vex" and mp == 1 and opc == 0x77:  # vzeroupper/vzeroall
            return Insn(addr, bytes(code[start:i]), enc, mp, opc,
                        prefixes=bytes(prefixes), rex=rex)
        n, mod, reg, rm = _modrm_len(code, i)
        i += n
        if enc == "xop":
            imm = {8: 1, 0xA: 4}.get(mp, 0)
        elif mp == 3 or (mp == 1 and opc in _VEX1_IMM8):
            imm = 1
        elif enc == "vex" and mp == 7:
            imm = 4 if opc == 0xF8 else 1  # AMX/USER-MSR map 7: urdmsr/uwrmsr imm32
        else:
            imm = 0
        _need(code, i, imm)
        i += imm
        return Insn(addr, bytes(code[start:i]), enc, mp, opc, mod, reg, rm,
                    bytes(prefixes), rex)
    i += 1
    target = None
    if op == 0x0F:
        _need(code, i)
        op2 = code[i]
        i += 1
        if op2 in (0x38, 0x3A):
            _need(code, i)
            opc = code[i]
            i += 1
            n, mod, reg, rm = _modrm_len(code, i)
            i += n + (1 if op2 == 0x3A else 0)
            _need(code, pos, i - pos)
            return Insn(addr, bytes(code[start:i]), "legacy", 2 if op2 == 0x38 else 3,
                        opc, mod, reg, rm, bytes(prefixes), rex)
        mod = reg = rm = -1
        if op2 not in _TWO_NO_MODRM:
            n, mod, reg, rm = _modrm_len(code, i)
            i += n
        imm = 1 if op2 in _TWO_IMM8 or op2 == 0x0F else 0  # 0F 0F: 3DNow! suffix
        if 0x80 <= op2 <= 0x8F:
            imm = 4
        _need(code, i, imm)
        if 0x80 <= op2 <= 0x8F:
            rel = int.from_bytes(code[i:i + 4], "little", signed=True)
            target = addr + (i + 4 - start) + rel
        i += imm
        return Insn(addr, bytes(code[start:i]), "legacy", 1, op2, mod, reg, rm,
                    bytes(prefixes), rex, target)
    if op in _ONE_INVALID:
        raise DecodeError(f"opcode {op:02x} is invalid in 64-bit mode")
    mod = reg = rm = -1
    if op in _ONE_MODRM:
        n, mod, reg, rm = _modrm_len(code, i)
        i += n
    imm = _ONE_IMM.get(op, 0)
    if op in (0xF6, 0xF7):
        imm = (1 if op == 0xF6 else "z") if reg in (0, 1) else 0
    if op in (0xA0, 0xA1, 0xA2, 0xA3):
        imm = 4 if 0x67 in prefixes else 8  # moffs
    if imm == "z":
        imm = 2 if opsize16 and op not in (0xE8, 0xE9) else 4
    elif imm == "v":
        imm = 8 if rex & 8 else (2 if opsize16 else 4)
    _need(code, i, imm)
    if op in _REL8 or op in (0xE8, 0xE9):
        rel = int.from_bytes(code[i:i + imm], "little", signed=True)
        target = addr + (i + imm - start) + rel
    i += imm
    return Insn(addr, bytes(code[start:i]), "legacy", 0, op, mod, reg, rm,
                bytes(prefixes), rex, target)


def decode_all(code: bytes, addr: int = 0, stop: int | None = None) -> list[Insn]:
    """Every instruction from the start of code (at address addr) to its
    end, or to the first one reaching ``stop`` bytes; DecodeError as
    decode."""
    out, pos, end = [], 0, len(code) if stop is None else min(stop, len(code))
    while pos < end:
        ins = decode(code, pos, addr + pos)
        out.append(ins)
        pos += ins.length
    return out


def boundaries(code: bytes, addr: int = 0) -> set[int]:
    """Addresses where instructions start, decoding from code's start."""
    return {ins.addr for ins in decode_all(code, addr)}


# ------------------------------------------------------------ hazards

def kernel_hazard(ins: Insn) -> str | None:
    """Why a uprobe on this instruction goes wrong on Linux (None: it does
    not): 'emulated' (the kernel runs a branch or nop instead of it: the
    program computes wrong results) or 'refused' (the probe is silently
    never installed). See the module docstring for the experiment."""
    if ins.encoding == "legacy":
        return None
    if ins.opcode in EMULATED_AS_LEGACY:
        return "emulated"
    if ins.opcode in REFUSED_AS_LEGACY:
        return "refused"
    return None


def describe_hazard(ins: Insn) -> str:
    what = kernel_hazard(ins)
    if what == "emulated":
        return ("the kernel mistakes it for a legacy branch or nop and emulates "
                "that instead of running it, so the traced program would compute "
                "wrong results")
    return "the kernel would silently not install the probe, so it would never fire"


# Vector instructions whose only effect is writing the vector/mask register
# in ModRM.reg (a memory operand, if any, is read): (encoding map, opcode).
_VECTOR_DEST_ONLY = frozenset({
    (1, 0x10), (1, 0x28), (1, 0x6F), (1, 0x6E), (1, 0xEF), (1, 0xDB), (1, 0xEB),
    (1, 0x54), (1, 0x55), (1, 0x56), (1, 0x57), (1, 0x70), (1, 0x74), (1, 0x75),
    (1, 0x76), (1, 0x90),
    (2, 0x00), (2, 0x58), (2, 0x59), (2, 0x78), (2, 0x79), (2, 0x7A), (2, 0x7B),
    (2, 0x7C),
})


def writes_only_vector(ins: Insn) -> bool:
    """Does ins only write a vector or opmask register (no general register,
    memory, stack, flags or control flow)? Conservative: False when unsure."""
    if ins.encoding not in ("vex", "evex"):
        return False
    if (ins.map, ins.opcode) not in _VECTOR_DEST_ONLY:
        return False
    # all forms listed write ModRM.reg (0F 90 kmov loads; the store is 0F 91)
    return True


@dataclass(frozen=True)
class Placement:
    """Where a probe meant for ``addr`` goes: ``addr`` itself (skipped
    empty) or past the ``skipped`` instructions."""
    addr: int
    skipped: tuple[Insn, ...] = ()


class Unsafe(Exception):
    """A probe address no placement makes safe; ``insn`` is the culprit,
    ``other`` (reason 'indirect') the indirect jump that forbids moving."""

    def __init__(self, insn: Insn, reason: str, other: Insn | None = None):
        super().__init__(reason)
        self.insn = insn
        self.reason = reason
        self.other = other


def is_indirect_jump(ins: Insn) -> bool:
    """jmp through a register or memory (FF /4, FF /5; notrack is a 3E
    prefix on the same opcode): a jump table, a computed goto, a tail call."""
    return ins.encoding == "legacy" and ins.map == 0 and ins.opcode == 0xFF and \
        ins.reg in (4, 5)


_FLOW_ENDS = frozenset({0xC2, 0xC3, 0xCA, 0xCB, 0xCF, 0xF4, 0xCC, 0xE9, 0xEB})


def reachable(insns: list[Insn], k: int, outside: set[int] | None = None) -> set[int]:
    """Indices of the instructions of insns (decoded in address order) that
    control can reach from insns[k] by falling through and taking relative
    jumps (calls return: their fall-through counts, their targets are other
    functions). An over-estimate where a call never returns. ``outside``
    collects the addresses control reaches that are no instruction of
    insns (jump targets elsewhere, the fall-through past the last one)."""
    starts = {ins.addr: j for j, ins in enumerate(insns)}
    seen: set[int] = set()
    todo = [k]
    while todo:
        j = todo.pop()
        while j < len(insns) and j not in seen:
            seen.add(j)
            ins = insns[j]
            legacy0 = ins.encoding == "legacy" and ins.map == 0
            is_call = legacy0 and ins.opcode == 0xE8
            if ins.target is not None and not is_call:
                if ins.target in starts:
                    todo.append(starts[ins.target])
                elif outside is not None:
                    outside.add(ins.target)
            if is_indirect_jump(ins) or (legacy0 and ins.opcode in _FLOW_ENDS) or \
                    (ins.encoding == "legacy" and ins.map == 1 and ins.opcode == 0x0B):
                break  # ret, jmp, hlt, int3, ud2: no fall-through
            j += 1
            if j == len(insns) and outside is not None:
                outside.add(ins.addr + ins.length)
    return seen


def placement(code: bytes, addr: int, offset: int = 0, movable: bool = True,
              max_skip: int = 4, end: int | None = None) -> Placement:
    """Where to put a uprobe for the instruction at code[offset] (code holds
    the whole function, starting at address addr). ``movable``: the probe
    may move past hazardous entry instructions (function-entry probes); a
    func+offset probe may not. ``end``: where the function really ends when
    code is only the part of it that decodes (the rest cannot be searched
    for branches). Unsafe if offset is not an instruction boundary or no
    safe placement exists; DecodeError when the bytes do not decode."""
    insns = decode_all(code, addr)
    starts = {ins.addr: k for k, ins in enumerate(insns)}
    want = addr + offset
    if want not in starts:
        inside = next((x for x in insns if x.addr < want < x.addr + x.length), None)
        if inside is None:
            raise DecodeError(f"offset {offset} is past the decoded code")
        raise Unsafe(inside, "middle")
    k = starts[want]
    first = insns[k]
    if kernel_hazard(first) is None:
        return Placement(want)
    if not movable:
        raise Unsafe(first, "hazard")
    skipped = []
    targets = {x.target for x in insns if x.target is not None}
    while k < len(insns) and kernel_hazard(insns[k]) is not None:
        ins = insns[k]
        if not writes_only_vector(ins) or len(skipped) >= max_skip:
            raise Unsafe(first, "hazard")
        skipped.append(ins)
        k += 1
    if k >= len(insns):
        raise Unsafe(first, "hazard")
    new = insns[k].addr
    # A branch landing on the new address, or between it and the entry,
    # would make the moved probe fire without an entry (or with other
    # arguments); a branch to the entry itself runs the skipped
    # instructions and reaches the probe just as a call does.
    if any(want < t <= new for t in targets):
        raise Unsafe(first, "target")
    # Where an indirect jump lands cannot be read from the code (a jump
    # table's entries are data, a computed goto's a register), so a
    # function with one may branch into the skipped range: do not move.
    # Only jumps the probed code can reach count: code without symbol sizes
    # (an IFUNC implementation in a stripped library) is decoded up to the
    # next symbol, which may cover other functions and their jump tables.
    outside: set[int] = set()
    ind = next((insns[j] for j in sorted(reachable(insns, k, outside))
                if is_indirect_jump(insns[j])), None)
    if ind is not None:
        raise Unsafe(first, "indirect", ind)
    # Code of the function that does not decode may hold such branches too;
    # it matters only where the function can get there.
    stop = addr + len(code)
    if end is not None and any(stop <= a < end for a in outside):
        raise Unsafe(first, "undecoded")
    return Placement(new, tuple(skipped))
