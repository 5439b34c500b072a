"""Disassembly text in the verifier-log syntax, from bytes and from Insns."""

from bpfscope.codegen import insn as I
from bpfscope.codegen.disasm import disassemble
from bpfscope.codegen.insn import Insn, R0, R1, R2, R3, R6, R10


def test_from_bytes_with_map_names():
    data = bytes.fromhex(
        "bf16000000000000"                    # r6 = r1
        "b701000000000000"                    # r1 = 0
        "7b1af8ff00000000"                    # *(u64 *)(r10 -8) = r1
        "1811000003000000" "0000000000000000"  # r1 = map fd 3
        "8500000001000000"                    # call 1
        "1500030000000000"                    # if r0 == 0 goto +3
        "9500000000000000")
    assert disassemble(data).splitlines() == [
        "0: (bf) r6 = r1",
        "1: (b7) r1 = 0",
        "2: (7b) *(u64 *)(r10 -8) = r1",
        "3: (18) r1 = map[id:3]",
        "5: (85) call bpf_map_lookup_elem#1",
        "6: (15) if r0 == 0x0 goto pc+3",
        "7: (95) exit",
    ]
    assert disassemble(data, map_names=[(3, "@x")]).splitlines()[3] == "3: (18) r1 = map[@x]"


def test_operator_spellings():
    insns = [
        Insn(I.ALU | I.X | I.MOV, R1, R2),
        Insn(I.ALU64 | I.K | I.ARSH, R1, 0, 0, 3),
        Insn(I.ALU64 | I.K | I.NEG, R1),
        Insn(I.ALU64 | I.X | I.MOD, R1, R2, 1),
        Insn(I.ALU | I.K | I.LSH, R3, 0, 0, 4),
        Insn(I.ALU | I.X | I.END, R1, 0, 0, 16),
        Insn(I.ALU64 | I.X | I.MOV, R1, R2, 8),
        Insn(I.JMP | I.X | I.JSGT, R1, R2, -4),
        Insn(I.JMP32 | I.K | I.JNE, R1, 0, 1, -1),
        Insn(I.JMP | I.JA, 0, 0, 5),
        Insn(I.LDX | I.MEMSX | I.H, R0, R6, 2),
        Insn(I.ST | I.MEM | I.W, R10, 0, -4, -7),
        Insn(I.STX | I.ATOMIC | I.DW, R1, R2, 8, I.ADD),
        Insn(I.STX | I.ATOMIC | I.W, R1, R2, 0, I.ADD | I.FETCH),
        Insn(I.LD_IMM64, R2, 0, 0, 0xDEADBEEF00),
        Insn(I.JMP | I.CALL, 0, 0, 0, 5000),
    ]
    assert disassemble(insns).splitlines() == [
        "0: (bc) w1 = w2",
        "1: (c7) r1 s>>= 3",
        "2: (87) r1 = -r1",
        "3: (9f) r1 s%= r2",
        "4: (64) w3 <<= 4",
        "5: (dc) r1 = be16 r1",
        "6: (bf) r1 = (s8)r2",
        "7: (6d) if r1 s> r2 goto pc-4",
        "8: (56) if w1 != 0xffffffff goto pc+1",
        "9: (05) goto pc+5",
        "10: (89) r0 = *(s16 *)(r6 +2)",
        "11: (62) *(u32 *)(r10 -4) = -7",
        "12: (db) lock *(u64 *)(r1 +8) += r2",
        "13: (c3) w2 = atomic_fetch_add((u32 *)(r1 +0), w2)",
        "14: (18) r2 = 0xdeadbeef00",
        "16: (85) call unknown#5000",
    ]
