"""bpfscope.arch.x86_insn: lengths checked against objdump over real code
(whole string functions of the system libc, the test program of
tests/attach/progs/insn_entry.S), hand-picked encodings, and the placement
of probes on byte sequences."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.arch.x86_insn import (DecodeError, Unsafe, decode, decode_all, is_indirect_jump,
                                    kernel_hazard, placement, writes_only_vector)
from bpfscope.elf import ElfFile

PROGS = Path(__file__).parent.parent / "attach" / "progs"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
_LINE = re.compile(r"\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)")


def _objdump(path: str, start: int | None = None, stop: int | None = None):
    """[(address, bytes, text)] of objdump -d."""
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is not installed")
    args = ["objdump", "-d", "-w", "--insn-width=15", path]
    if start is not None:
        args[2:2] = [f"--start-address={start:#x}", f"--stop-address={stop:#x}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = _LINE.match(line)
        if m and "(bad)" not in m.group(3) and not m.group(3).startswith(".byte"):
            rows.append((int(m.group(1), 16), bytes.fromhex(m.group(2).replace(" ", "")),
                         m.group(3)))
    return rows


def _compare(path: str, rows) -> int:
    elf = ElfFile(path)
    wrong = []
    for addr, raw, text in rows:
        code = elf.read_vaddr(addr, min(16, len(raw) + 15))
        try:
            n = decode(code, 0, addr).length
        except DecodeError as e:
            n = str(e)
        if n != len(raw):
            wrong.append((hex(addr), raw.hex(" "), text, n))
    assert not wrong, wrong[:20]
    return len(rows)


def test_lengths_match_objdump_on_libc_string_functions():
    if not Path(LIBC).exists():
        pytest.skip(f"{LIBC} is not here")
    from bpfscope.attach import ifunc, uprobe
    st = uprobe.symbols_of(LIBC)
    impl = ifunc.implementation(st.elf, LIBC, "strchrnul", uprobe.live_load_bias)
    # 64 KiB around the string implementations (SSE2, AVX2, EVEX, AVX-512)
    # and 64 KiB of ordinary compiled C at printf.
    printf = st.lookup_one("printf").value
    n = 0
    for start in ([impl - 0x8000] if impl else []) + [printf]:
        n += _compare(LIBC, _objdump(LIBC, start, start + 0x10000))
    assert n > 10000


def test_lengths_match_objdump_on_the_test_program(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    out = tmp_path / "insn_entry"
    subprocess.run([gcc, "-O2", "-o", str(out), str(PROGS / "insn_entry.c"),
                    str(PROGS / "insn_entry.S")], check=True, capture_output=True)
    assert _compare(str(out), _objdump(str(out))) > 100


@pytest.mark.parametrize("hexbytes,length,encoding", [
    ("62e27d287ace", 6, "evex"),          # vpbroadcastb %esi,%ymm17
    ("62e1fe486f07", 6, "evex"),          # vmovdqu64 (%rdi),%zmm16
    ("62e3fd483bc001", 7, "evex"),        # vextracti64x4 $1 (map 3: imm8)
    ("62f17d4870c01b", 7, "evex"),        # vpshufd $0x1b (map 1, imm8)
    ("62e1fe086f0500000000", 10, "evex"),  # RIP-relative
    ("c5f96ec6", 4, "vex"),               # vmovd %esi,%xmm0
    ("c5f877", 3, "vex"),                 # vzeroupper: no ModRM
    ("c4e37d38c101", 6, "vex"),           # vinserti128 (VEX3, map 3)
    ("c4e268f5c9", 5, "vex"),             # bzhi
    ("8fe878a2c100", 6, "xop"),           # vpcmov (XOP map 8: imm8)
    ("8fe9789bc1", 5, "xop"),             # vphaddubq-like (XOP map 9)
    ("8fea7810c001000000", 9, "xop"),     # bextr imm32 (XOP map A)
    ("8f00", 2, "legacy"),                # pop (%rax)
    ("48b88877665544332211", 10, "legacy"),  # movabs imm64
    ("66b83412", 4, "legacy"),            # mov $0x1234,%ax
    ("f7c0ffffffff", 6, "legacy"),        # test $imm32 (F7 /0)
    ("f7d8", 2, "legacy"),                # neg (F7 /3: no imm)
    ("f6c101", 3, "legacy"),              # test $1,%cl
    ("a10000000000000000", 9, "legacy"),  # movabs moffs64
    ("6667a100000000", 7, "legacy"),      # 67: moffs32
    ("0f1f840000000000", 8, "legacy"),    # nopl 0(%rax,%rax,1)
    ("662e0f1f840000000000", 10, "legacy"),  # cs nopw
    ("f30f1efa", 4, "legacy"),            # endbr64
    ("0f8400000000", 6, "legacy"),        # je rel32
    ("c8100001", 4, "legacy"),            # enter
    ("0f3a0fc108", 5, "legacy"),          # palignr (0F3A: imm8)
    ("660f3800c1", 5, "legacy"),          # pshufb (0F38)
    ("0f0fc1b4", 4, "legacy"),            # 3DNow! pfmul
    ("8b04240000", 3, "legacy"),          # mov (%rsp),%eax (SIB)
    ("8b042500000000", 7, "legacy"),      # SIB with no base: disp32
    ("8b4c2408", 4, "legacy"),            # disp8 with SIB
])
def test_hand_picked_encodings(hexbytes, length, encoding):
    ins = decode(bytes.fromhex(hexbytes))
    assert (ins.length, ins.encoding) == (length, encoding)


def test_branch_targets_and_errors():
    assert decode(bytes.fromhex("eb05"), 0, 0x100).target == 0x107
    assert decode(bytes.fromhex("e8fbffffff"), 0, 0x100).target == 0x100
    assert decode(bytes.fromhex("0f84f0ffffff"), 0, 0x100).target == 0xF6
    with pytest.raises(DecodeError):
        decode(bytes.fromhex("62e27d"))       # truncated EVEX
    with pytest.raises(DecodeError):
        decode(bytes.fromhex("06"))           # push %es: invalid in 64-bit mode


def test_hazard_classes():
    cls = lambda h: kernel_hazard(decode(bytes.fromhex(h)))  # noqa: E731
    assert cls("62e27d287ace") == "emulated"   # EVEX 0F38 7A: taken for jp
    assert cls("c5f970c000") == "emulated"     # VEX vpshufd: taken for jo
    assert cls("c5f8906e00") == "emulated"     # VEX kmovw: taken for nop
    assert cls("c5f96ec6") == "refused"        # VEX 0F 6E: taken for outs
    assert cls("62a1fd00efc0") == "refused"    # EVEX vpxorq: taken for out
    assert cls("c4e27d58c9") is None           # VEX vpbroadcastd
    assert cls("660f70c000") is None           # SSE pshufd: legacy is fine
    assert cls("7a02") is None                 # a real jp is emulated right


# __strchrnul_evex's entry: vpbroadcastb %esi,%ymm17; mov %edi,%eax; and; ret
STRCHRNUL = bytes.fromhex("62e27d287ace" "89f8" "25ff0f0000" "c3")


def test_placement_skips_a_vector_only_entry():
    pl = placement(STRCHRNUL, 0x1000)
    assert pl.addr == 0x1006
    assert [i.hex for i in pl.skipped] == ["62 e2 7d 28 7a ce"]


def test_placement_keeps_a_safe_entry():
    assert placement(bytes.fromhex("89f8" "c3"), 0x1000).addr == 0x1000
    assert placement(STRCHRNUL, 0x1000, offset=6, movable=False).addr == 0x1006


def test_placement_refuses_when_the_next_is_a_branch_target():
    # ...; jmp back to +6 at the end makes +6 a loop head
    code = STRCHRNUL[:-1] + bytes.fromhex("ebf7") + b"\xc3"
    assert decode(code, 13, 0x1000 + 13).target == 0x1006
    with pytest.raises(Unsafe) as e:
        placement(code, 0x1000)
    assert e.value.reason == "target" and e.value.insn.addr == 0x1000


def test_placement_refuses_a_gpr_writing_hazard():
    # vmovd %xmm17,%eax (EVEX 0F 7E: taken for jle) writes a GPR
    code = bytes.fromhex("62e17d087ec8" "c3")
    assert not writes_only_vector(decode(code))
    with pytest.raises(Unsafe) as e:
        placement(code, 0)
    assert e.value.reason == "hazard"


def test_placement_refuses_hazards_at_an_explicit_offset_and_mid_instruction():
    with pytest.raises(Unsafe) as e:
        placement(STRCHRNUL, 0, offset=0, movable=False)
    assert e.value.reason == "hazard"
    with pytest.raises(Unsafe) as e:
        placement(STRCHRNUL, 0, offset=3)
    assert e.value.reason == "middle" and e.value.insn.addr == 0


def test_placement_skips_several_and_stops_at_the_limit():
    two = bytes.fromhex("62e27d287ace" "c5f8906e00")   # vpbroadcastb; kmovw (%rsi)?
    ins = decode_all(two + b"\xc3")
    assert [kernel_hazard(i) for i in ins[:2]] == ["emulated", "emulated"]
    assert placement(two + b"\xc3", 0).addr == len(two)
    with pytest.raises(Unsafe):
        placement(two + b"\xc3", 0, max_skip=1)


# ------------------------------------------------------------ indirect jumps

VPOR = bytes.fromhex("c5e1ebe3")          # vpor %xmm3,%xmm3,%xmm4 (VEX 0F EB: taken for jmp)
JMP_RAX = bytes.fromhex("ffe0")           # jmp *%rax
NOTRACK_JMP = bytes.fromhex("3effe0")     # notrack jmp *%rax (GCC's switch with CET)


def test_placement_refuses_a_function_with_a_reachable_jump_table():
    # vpor; lea 0(%rip),%rax; cmp $3,%edi; ja +2; jmp *%rax; ret: a switch
    # whose table may name any address of the function, the skipped ones too
    for jmp in (JMP_RAX, NOTRACK_JMP):
        code = VPOR + bytes.fromhex("488d0500000000" "83ff03" "7702") + jmp + b"\xc3"
        assert is_indirect_jump(decode(jmp))
        with pytest.raises(Unsafe) as e:
            placement(code, 0x1000)
        assert e.value.reason == "indirect" and e.value.insn.addr == 0x1000
        assert e.value.other.raw == jmp


def test_placement_ignores_indirect_jumps_the_function_cannot_reach():
    # the function returns before the next one (its jump table) starts, as
    # when an IFUNC implementation without a symbol size is decoded up to
    # the next symbol
    code = VPOR + bytes.fromhex("89f8" "c3") + JMP_RAX + b"\xc3"
    pl = placement(code, 0x1000)
    assert pl.addr == 0x1004
    # ... but reached by a jump, it counts
    code = VPOR + bytes.fromhex("85ff" "7401" "c3") + JMP_RAX
    with pytest.raises(Unsafe) as e:
        placement(code, 0x1000)
    assert e.value.reason == "indirect"


def test_a_call_is_not_an_indirect_jump():
    assert not is_indirect_jump(decode(bytes.fromhex("ffd0")))      # call *%rax
    code = VPOR + bytes.fromhex("ffd0" "c3")
    assert placement(code, 0x1000).addr == 0x1004


def test_placement_refuses_a_branch_into_the_skipped_instructions():
    # vpor; vpor; ...; jne back to the second vpor: that path would reach
    # the moved probe without passing the entry
    two = VPOR + VPOR
    code = two + bytes.fromhex("85ff") + bytes.fromhex("75f8") + b"\xc3"
    assert decode(code, 10, 0x100A).target == 0x1004
    with pytest.raises(Unsafe) as e:
        placement(code, 0x1000)
    assert e.value.reason == "target"
    # a loop back to the entry itself runs the skipped ones again: fine
    code = two + bytes.fromhex("85ff") + bytes.fromhex("75f4") + b"\xc3"
    assert decode(code, 10, 0x100A).target == 0x1000
    assert placement(code, 0x1000).addr == 0x1008


def test_placement_refuses_when_the_function_reaches_code_that_does_not_decode():
    # vpor; test; jz +1 (over the ret, into a byte that does not decode)
    body = VPOR + bytes.fromhex("85ff" "7401" "c3")
    full = body + b"\x06\xc3"
    with pytest.raises(DecodeError):
        decode_all(full)
    with pytest.raises(Unsafe) as e:
        placement(body, 0x1000, end=0x1000 + len(full))
    assert e.value.reason == "undecoded"
    # undecodable bytes the function cannot reach (padding after its ret)
    body = VPOR + bytes.fromhex("89f8" "c3")
    assert placement(body, 0x1000, end=0x1000 + len(body) + 2).addr == 0x1004
