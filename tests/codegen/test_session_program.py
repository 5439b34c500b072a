"""kprobe_session programs: a kprobe's and a kretprobe's bodies behind one
call of bpf_session_is_return (assemble.session_program)."""

from bpfscope.codegen import insn as I
from bpfscope.codegen.assemble import Program, session_program
from bpfscope.codegen.builder import Builder
from bpfscope.codegen.insn import R0, R1, R2, R10


def _body(map_name: str, value: int) -> Program:
    """Store ``value`` at key 0 of ``map_name`` (one branch, one map load)."""
    b = Builder()
    ctx = b.vreg()
    b.mov(ctx, R1)
    key = b.stack(8)
    b.st(8, R10, key, 0)
    b.ld_map_fd(R1, map_name)
    b.mov(R2, R10)
    b.alu("add", R2, key)
    b.call("map_lookup_elem")
    out = b.label("out")
    b.jcond("eq", R0, 0, out)
    b.st(8, R0, 0, value)
    b.place(out)
    b.mov(R0, 0)
    b.exit_()
    return b.finish()


def test_the_call_picks_the_body_and_both_stay_intact():
    entry, ret = _body("@e", 1), _body("@r", 2)
    merged = session_program(entry, ret, 4242)
    head = merged.insns[:5]
    assert head[1].astuple() == (I.JMP | I.CALL, 0, I.PSEUDO_KFUNC_CALL, 0, 4242)
    # the context survives the call in r6 and is back in r1 for the body
    assert head[0].astuple()[:3] == (I.ALU64 | I.X | I.MOV, I.R6, I.R1)
    assert head[2].astuple()[:3] == (I.ALU64 | I.X | I.MOV, I.R1, I.R6)
    jump = head[4]
    assert jump.code == I.JMP | I.K | I.JNE and jump.dst == R0 and jump.imm == 0
    # a return lands on the kretprobe's first instruction, past the entry's slots
    assert jump.off == entry.slot_count
    assert merged.insns[5:5 + len(entry.insns)] == entry.insns
    assert merged.insns[5 + len(entry.insns):] == ret.insns
    head_slots = 5
    assert merged.map_relocations == (
        [(s + head_slots, n) for s, n in entry.map_relocations]
        + [(s + head_slots + entry.slot_count, n) for s, n in ret.map_relocations])
    assert merged.stack_size == max(entry.stack_size, ret.stack_size)
    assert merged.encode({"@e": 3, "@r": 4})  # every jump and map load encodes


def test_bodies_with_callbacks_are_not_merged():
    entry = _body("@e", 1)
    with_cb = Program(list(entry.insns), entry.stack_size,
                      [(0, "main", ("ctx",)), (3, "cb", ("map", "key", "value", "ctx"))])
    assert session_program(with_cb, entry, 1) is None
    assert session_program(entry, with_cb, 1) is None
