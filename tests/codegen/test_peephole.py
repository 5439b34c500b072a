"""The peephole pass, rule by rule: exact instructions before and after."""

from __future__ import annotations

from bpfscope.codegen import insn as I
from bpfscope.codegen.disasm import disassemble
from bpfscope.codegen.insn import R0, R1, R2, R3, R6, R7, R8, R10, Insn, Label
from bpfscope.codegen.peephole import peephole


def mov(d, s):
    return Insn(I.ALU64 | (I.X if isinstance(s, I.PReg) else I.K) | I.MOV,
                d, s if isinstance(s, I.PReg) else 0, 0, 0 if isinstance(s, I.PReg) else s)


def alu(op, d, k, cls=I.ALU64):
    return Insn(cls | I.K | op, d, 0, 0, k)


def jeq(r, k, label):
    return Insn(I.JMP | I.K | I.JEQ, r, 0, 0, k, target=label)


def ja(label):
    return Insn(I.JMP | I.JA, target=label)


def call(n):
    return Insn(I.JMP | I.CALL, imm=n)


def stx(base, off, src, size=I.DW):
    return Insn(I.STX | I.MEM | size, base, src, off)


def xadd(base, off, src):
    """An atomic add: it reads its register as it is (no immediate form)."""
    return Insn(I.STX | I.ATOMIC | I.DW, base, src, off, I.ADD)


EXIT = Insn(I.JMP | I.EXIT)


def text(code):
    labels, slot = {}, 0
    for it in code:
        if isinstance(it, Label):
            labels[it.id] = slot
        else:
            slot += it.slots
    out, slot = [], 0
    for it in code:
        if isinstance(it, Label):
            continue
        if it.target is not None:
            it = Insn(it.code, it.dst, it.src, labels[it.target.id] - slot - 1, it.imm)
        out.append(it)
        slot += it.slots
    return disassemble(out).splitlines()


def test_64_bit_identities_of_zero_go_32_bit_ones_stay():
    code = [mov(R0, R1), alu(I.ADD, R0, 0), alu(I.SUB, R0, 0), alu(I.LSH, R0, 0),
            alu(I.OR, R0, 0, cls=I.ALU), alu(I.MUL, R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (bf) r0 = r1",
        "1: (44) w0 |= 0",
        "2: (27) r0 *= 0",
        "3: (95) exit",
    ]


def test_a_constant_already_held_is_not_loaded_again():
    code = [mov(R0, 1), xadd(R6, 0, R0), mov(R0, 1), xadd(R6, 8, R0), EXIT]
    assert text(peephole(code)) == [
        "0: (b7) r0 = 1",
        "1: (db) lock *(u64 *)(r6 +0) += r0",
        "2: (db) lock *(u64 *)(r6 +8) += r0",
        "3: (95) exit",
    ]


def test_a_store_of_a_known_constant_stores_the_immediate():
    # r1's load then goes as a dead write; sizes and bases stay, and a
    # negative constant stays sign-extended as its 64-bit move was
    code = [mov(R1, -2), stx(R10, -8, R1), stx(R6, 4, R1, I.W), stx(R6, 0, R1, I.B),
            mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (7a) *(u64 *)(r10 -8) = -2",
        "1: (62) *(u32 *)(r6 +4) = -2",
        "2: (72) *(u8 *)(r6 +0) = -2",
        "3: (b7) r0 = 0",
        "4: (95) exit",
    ]


def test_an_atomic_and_a_store_of_an_unknown_register_keep_their_register():
    code = [mov(R1, 3), xadd(R6, 0, R1), stx(R10, -8, R7), mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (b7) r1 = 3",
        "1: (db) lock *(u64 *)(r6 +0) += r1",
        "2: (7b) *(u64 *)(r10 -8) = r7",
        "3: (b7) r0 = 0",
        "4: (95) exit",
    ]


def test_a_copy_back_of_an_unchanged_copy_is_dropped():
    code = [mov(R2, R6), stx(R10, -8, R2), mov(R6, R2), stx(R10, -16, R6),
            mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (bf) r2 = r6",
        "1: (7b) *(u64 *)(r10 -8) = r2",
        "2: (7b) *(u64 *)(r10 -16) = r6",
        "3: (b7) r0 = 0",
        "4: (95) exit",
    ]


def test_knowledge_is_dropped_at_labels_and_calls():
    l = Label()
    code = [mov(R6, 1), xadd(R7, 0, R6), jeq(R0, 0, l), l, mov(R6, 1),
            mov(R1, 1), xadd(R7, 8, R1), call(5), mov(R1, 1), mov(R6, 1),
            xadd(R7, 16, R6), xadd(R7, 24, R1), mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (b7) r6 = 1",
        "1: (db) lock *(u64 *)(r7 +0) += r6",
        "2: (b7) r6 = 1",             # after a label: kept
        "3: (b7) r1 = 1",
        "4: (db) lock *(u64 *)(r7 +8) += r1",
        "5: (85) call bpf_ktime_get_ns#5",
        "6: (b7) r1 = 1",             # r1 is clobbered by the call: kept
        "7: (db) lock *(u64 *)(r7 +16) += r6",  # r6 survives it: its load went
        "8: (db) lock *(u64 *)(r7 +24) += r1",
        "9: (b7) r0 = 0",
        "10: (95) exit",
    ]


def test_dead_register_writes_and_the_jump_they_leave_behind():
    # a delete()'s unused result: r1 = 1; if r0 == 0 goto +1; r1 = 0
    l = Label()
    code = [call(3), mov(R1, 1), jeq(R0, 0, l), mov(R1, 0), l, mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (85) call bpf_map_delete_elem#3",
        "1: (b7) r0 = 0",
        "2: (95) exit",
    ]


def test_writes_read_by_a_call_or_exit_or_on_one_path_stay():
    l = Label()
    code = [mov(R1, R6), mov(R2, 8), mov(R3, 0), call(113), mov(R2, 7),
            jeq(R0, 0, l), mov(R0, R2), EXIT, l, mov(R0, 1), EXIT]
    assert text(peephole(code)) == [
        "0: (bf) r1 = r6",
        "1: (b7) r2 = 8",
        "2: (b7) r3 = 0",
        "3: (85) call bpf_probe_read_kernel#113",
        "4: (b7) r2 = 7",
        "5: (15) if r0 == 0x0 goto pc+2",
        "6: (bf) r0 = r2",
        "7: (95) exit",
        "8: (b7) r0 = 1",
        "9: (95) exit",
    ]


def test_jumps_to_unconditional_jumps_are_threaded():
    a, b, c = Label(), Label(), Label()
    code = [jeq(R1, 0, a), stx(R10, -8, R1), ja(b), a, ja(c), b, stx(R10, -16, R1),
            c, mov(R0, 0), EXIT]
    # straight to c; the jump at a is then unreachable, and the one to b
    # goes to the next instruction
    assert text(peephole(code)) == [
        "0: (15) if r1 == 0x0 goto pc+2",
        "1: (7b) *(u64 *)(r10 -8) = r1",
        "2: (7b) *(u64 *)(r10 -16) = r1",
        "3: (b7) r0 = 0",
        "4: (95) exit",
    ]


def test_a_conditional_jump_to_the_next_instruction_is_dropped():
    l = Label()
    code = [jeq(R1, 0, l), l, mov(R0, 0), EXIT]
    assert text(peephole(code)) == ["0: (b7) r0 = 0", "1: (95) exit"]


def test_a_chain_of_dead_computations_goes_in_one_pass():
    # r2 feeds only r1, which nothing reads: both go
    code = [mov(R2, R6), alu(I.ADD, R2, 4), mov(R1, R2), alu(I.LSH, R1, 3),
            mov(R0, 0), EXIT]
    assert text(peephole(code)) == ["0: (b7) r0 = 0", "1: (95) exit"]


def alux(op, d, s, cls=I.ALU64):
    return Insn(cls | I.X | op, d, s)


def ldx(d, base, off):
    return Insn(I.LDX | I.MEM | I.DW, d, base, off)


def st(base, off, k):
    return Insn(I.ST | I.MEM | I.DW, base, 0, off, k)


def test_a_known_constant_operand_becomes_an_immediate():
    l = Label()
    code = [mov(R1, 1048575), alux(I.AND, R6, R1), mov(R2, 3),
            Insn(I.JMP | I.X | I.JSLT, R6, R2, target=l), mov(R6, 0), l,
            stx(R10, -8, R6), EXIT]
    assert text(peephole(code)) == [
        "0: (57) r6 &= 1048575",     # the loads of 1048575 and 3 went dead
        "1: (c5) if r6 s< 0x3 goto pc+1",
        "2: (b7) r6 = 0",
        "3: (7b) *(u64 *)(r10 -8) = r6",
        "4: (95) exit",
    ]


def test_an_immediate_that_would_mean_something_else_is_not_taken():
    # division by 0 and shifts out of range are refused in immediate form
    # (by a register they are defined); a byte swap's imm is its width
    code = [mov(R1, 0), alux(I.DIV, R6, R1), mov(R2, 64), alux(I.LSH, R6, R2),
            mov(R3, 32), alux(I.RSH, R6, R3, cls=I.ALU), stx(R10, -8, R6), EXIT]
    assert text(peephole(code)) == [
        "0: (b7) r1 = 0",
        "1: (3f) r6 /= r1",
        "2: (b7) r2 = 64",
        "3: (6f) r6 <<= r2",
        "4: (b7) r3 = 32",
        "5: (7c) w6 >>= w3",
        "6: (7b) *(u64 *)(r10 -8) = r6",
        "7: (95) exit",
    ]


def test_constants_are_forgotten_at_labels_and_calls():
    l = Label()
    code = [mov(R1, 5), jeq(R0, 0, l), l, alux(I.ADD, R6, R1), mov(R2, 5), call(5),
            alux(I.ADD, R6, R2), stx(R10, -8, R6), EXIT]
    out = text(peephole(code))
    assert "1: (0f) r6 += r1" in out and "4: (0f) r6 += r2" in out


def test_a_stack_store_every_path_overwrites_unread_is_dead():
    l = Label()
    code = [st(R10, -16, 0), st(R10, -24, 0), jeq(R6, 0, l), mov(R6, 2), l,
            stx(R10, -16, R6), mov(R1, R10), alu(I.ADD, R1, -24), call(1), EXIT]
    assert text(peephole(code)) == [
        "0: (7a) *(u64 *)(r10 -24) = 0",  # -16 is written on both paths first
        "1: (15) if r6 == 0x0 goto pc+1",
        "2: (b7) r6 = 2",
        "3: (7b) *(u64 *)(r10 -16) = r6",
        "4: (bf) r1 = r10",
        "5: (07) r1 += -24",
        "6: (85) call bpf_map_lookup_elem#1",
        "7: (95) exit",
    ]


def test_stack_stores_that_may_be_read_stay():
    l = Label()
    # read back on a path; read through another register; a call between;
    # only part of it overwritten; overwritten on one path only
    code = [st(R10, -8, 1), jeq(R6, 0, l), ldx(R7, R10, -8), l, st(R10, -8, 2),
            st(R10, -16, 1), ldx(R8, R1, 0), st(R10, -16, 2),
            st(R10, -24, 1), call(5), st(R10, -24, 2),
            st(R10, -32, 1), Insn(I.ST | I.MEM | I.W, R10, 0, -32, 2),
            mov(R0, R7), alux(I.ADD, R0, R8), EXIT]
    out = text(peephole(code))
    assert len(out) == len(code) - 1  # the label only
    assert sum(") *(u" in x for x in out) == 8  # every store


def st0(off):
    return Insn(I.ST | I.MEM | I.DW, R10, 0, off, 0)


def fp(r, off):
    return [mov(r, R10), alu(I.ADD, r, off)]


def test_stores_a_helper_fills_before_anything_reads_them_go():
    # bpf_get_current_comm(r10 - 24, 16) writes all 16 bytes: the zeroing
    # of fp-24..fp-8 goes, fp-8 (outside the buffer) stays
    code = [st0(-24), st0(-16), st0(-8), *fp(R1, -24), mov(R2, 16), call(16),
            *fp(R2, -24), call(1), mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (7a) *(u64 *)(r10 -8) = 0",
        "1: (bf) r1 = r10",
        "2: (07) r1 += -24",
        "3: (b7) r2 = 16",
        "4: (85) call bpf_get_current_comm#16",
        "5: (bf) r2 = r10",
        "6: (07) r2 += -24",
        "7: (85) call bpf_map_lookup_elem#1",
        "8: (b7) r0 = 0",
        "9: (95) exit",
    ]


def test_a_fill_of_unknown_size_or_buffer_or_source_keeps_the_stores():
    l = Label()
    cases = [
        # the size is not known
        [st0(-16), *fp(R1, -16), mov(R2, R7), call(16)],
        # the buffer's address is forgotten at a label
        [st0(-16), *fp(R1, -16), l, mov(R2, 16), call(16)],
        # bpf_probe_read_kernel's source may be the stack
        [st0(-16), *fp(R1, -16), mov(R2, 16), mov(R3, R7), call(113)],
        # smaller than the stores
        [st0(-16), *fp(R1, -16), mov(R2, 4), call(16)],
    ]
    for head in cases:
        code = [*head, *fp(R2, -16), call(1), mov(R0, 0), EXIT]
        assert text(peephole(code))[0] == "0: (7a) *(u64 *)(r10 -16) = 0", head


def test_a_read_from_a_constant_source_fills_its_buffer():
    # codegen zeroes big buffers by reading from NULL: stores before it go
    code = [st0(-16), *fp(R1, -16), mov(R2, 16), mov(R3, 0), call(113),
            *fp(R2, -16), call(1), mov(R0, 0), EXIT]
    assert text(peephole(code))[0] == "0: (bf) r1 = r10"


def test_a_stack_address_made_three_times_is_kept_in_a_free_callee_saved_register():
    # r6 is named: r7 is the first free one; each copy replaces a making
    code = [mov(R6, R1), *fp(R1, -24), mov(R2, 16), call(16), *fp(R2, -24), call(1),
            *fp(R2, -24), mov(R1, R6), call(2), mov(R0, 0), EXIT]
    assert text(peephole(code)) == [
        "0: (bf) r6 = r1",
        "1: (bf) r7 = r10",
        "2: (07) r7 += -24",
        "3: (bf) r1 = r7",
        "4: (b7) r2 = 16",
        "5: (85) call bpf_get_current_comm#16",
        "6: (bf) r2 = r7",
        "7: (85) call bpf_map_lookup_elem#1",
        "8: (bf) r2 = r7",
        "9: (bf) r1 = r6",
        "10: (85) call bpf_map_update_elem#2",
        "11: (b7) r0 = 0",
        "12: (95) exit",
    ]


def test_a_stack_address_made_twice_or_on_separate_paths_stays_as_it_is():
    l, end = Label(), Label()
    twice = [*fp(R1, -24), call(16), *fp(R2, -24), call(1), mov(R0, 0), EXIT]
    # three makings, each on a path of its own: keeping it would cost one more each
    apart = [jeq(R0, 0, l), *fp(R2, -8), call(1), ja(end), l, jeq(R0, 1, end),
             *fp(R2, -8), call(1), ja(end), *fp(R2, -8), call(2), end, mov(R0, 0), EXIT]
    for code in (twice, apart):
        assert "r6" not in "\n".join(text(peephole(code)))
    # no free callee-saved register: nothing to keep it in
    busy = [mov(R6, R1), mov(R7, R1), mov(R8, R1), mov(I.R9, R1),
            *fp(R1, -24), call(16), *fp(R2, -24), call(1), *fp(R2, -24), call(2),
            mov(R1, R6), mov(R2, R7), mov(R3, R8), mov(I.R4, I.R9), call(5), mov(R0, 0), EXIT]
    assert sum(line.endswith(" = r10") for line in text(peephole(busy))) == 3
