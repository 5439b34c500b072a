"""Encoding of each instruction class against hand-assembled bytes."""

import pytest

from bpfscope.codegen import insn as I
from bpfscope.codegen.insn import Insn, R0, R1, R2, R10, decode, encode


@pytest.mark.parametrize("ins, hexbytes", [
    # code | dst:4 src:4 | off le16 | imm le32
    (Insn(0xBF, I.R6, R1), "bf16000000000000"),            # r6 = r1
    (Insn(0xB7, R1, 0, 0, -1), "b7010000ffffffff"),               # r1 = -1
    (Insn(0x07, R1, 0, 0, 1), "0701000001000000"),                # r1 += 1
    (Insn(0x0C, R1, R2), "0c21000000000000"),                     # w1 += w2
    (Insn(0x3F, R1, R2, 1, 0), "3f21010000000000"),               # r1 s/= r2
    (Insn(0xC7, R1, 0, 0, 3), "c701000003000000"),                # r1 s>>= 3
    (Insn(0x87, R1), "8701000000000000"),                         # r1 = -r1
    (Insn(0x79, R1, R0, 8, 0), "7901080000000000"),               # r1 = *(u64 *)(r0 +8)
    (Insn(0x61, R1, R10, -4, 0), "61a1fcff00000000"),             # r1 = *(u32 *)(r10 -4)
    (Insn(0x7B, R10, R1, -8, 0), "7b1af8ff00000000"),             # *(u64 *)(r10 -8) = r1
    (Insn(0x72, R10, 0, -1, 7), "720affff07000000"),              # *(u8 *)(r10 -1) = 7
    (Insn(0xDB, R1, R2, 0, 0), "db21000000000000"),               # lock *(u64 *)(r1 +0) += r2
    (Insn(0x15, R0, 0, 3, 0), "1500030000000000"),                # if r0 == 0x0 goto pc+3
    (Insn(0x6D, R1, R2, -4, 0), "6d21fcff00000000"),              # if r1 s> r2 goto pc-4
    (Insn(0xA6, R1, 0, 2, 10), "a60102000a000000"),               # if w1 < 0xa goto pc+2
    (Insn(0x05, 0, 0, -1, 0), "0500ffff00000000"),                # goto pc-1
    (Insn(0x85, 0, 0, 0, 1), "8500000001000000"),                 # call 1
    (Insn(0x95), "9500000000000000"),                             # exit
    (Insn(0x18, R1, 0, 0, 0x1122334455667788),
     "1801000088776655" "0000000044332211"),                      # r1 = 0x1122334455667788
])
def test_encode(ins, hexbytes):
    assert encode(ins).hex() == hexbytes


def test_encode_map_fd_load_sets_pseudo_src_and_fd():
    ins = Insn(I.LD_IMM64, R1, I.PSEUDO_MAP_FD, 0, 0, map_name="@x")
    assert encode(ins, map_fd=7).hex() == "1811000007000000" "0000000000000000"


def test_encode_rejects_virtual_registers():
    with pytest.raises(ValueError, match="virtual register v3"):
        encode(Insn(0xBF, I.VReg(3), R1))


def test_decode_joins_ld_imm64_halves():
    data = bytes.fromhex("18010000ffffffff" "00000000ffffffff" "9500000000000000")
    assert decode(data) == [I.RawInsn(0x18, 1, 0, 0, 0xFFFFFFFFFFFFFFFF),
                            I.RawInsn(0x95, 0, 0, 0, 0)]


def test_uses_and_defs():
    v1, v2 = I.VReg(1), I.VReg(2)
    assert I.uses(Insn(0x0F, v1, v2)) == [v1, v2] and I.defs(Insn(0x0F, v1, v2)) == [v1]
    assert I.uses(Insn(0xBF, v1, v2)) == [v2]
    assert I.uses(Insn(0x7B, R10, v1, -8)) == [R10, v1] and I.defs(Insn(0x7B, R10, v1)) == []
    assert I.defs(Insn(0x85, 0, 0, 0, 1)) == [R0, R1, R2, I.R3, I.R4, I.R5]
    assert I.uses(Insn(0x95)) == [R0]
    assert repr(v2) == "v2" and repr(R10) == "r10"
