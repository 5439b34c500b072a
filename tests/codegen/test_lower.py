"""Lowering pinned down: exact BPF for small programs, map specs, event specs.

The listings are kernel-style disassembly (program.disasm()); a change in
instruction selection, register allocation or stack layout shows up here as
a diff to review. Semantics are checked separately, in the interpreter
(test_lower_interp.py).
"""

import os

import pytest

from bpfscope.codegen.insn import Insn, decode
from bpfscope.codegen.lower import compile_program
from bpfscope.codegen.script import EXIT, LOST, RINGBUF
from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

TP_ARGS = [
    ArgField("a", 8, 8, True, "int", "long"),
    ArgField("b", 16, 8, True, "int", "long"),
    ArgField("ua", 24, 8, False, "int", "unsigned long"),
    ArgField("ub", 32, 8, False, "int", "unsigned long"),
    ArgField("i32", 40, 4, True, "int", "int"),
    ArgField("u16", 44, 2, False, "int", "unsigned short"),
    ArgField("i8", 46, 1, True, "int", "s8"),
    ArgField("comm", 48, 16, False, "char_array", "char[16]", 16),
    ArgField("name", 64, 4, False, "data_loc_string", "__data_loc char[]"),
    ArgField("text", 68, 5, False, "char_array", "char[5]", 5),
]


def expander(ap):
    p = ap.parts
    if p[0] in ("BEGIN", "END"):
        return [ExpandedProbe(p[0], p[0], (), None, ap.span)]
    if p[0] == "tracepoint":
        return [ExpandedProbe("tracepoint", "tracepoint:t:p", ("t", "p", 1), TP_ARGS, ap.span)]
    if p[0] == "interval":
        return [ExpandedProbe("interval", "interval:s:1", ("period", 10**9), None, ap.span)]
    if p[0] == "watchpoint":
        return [ExpandedProbe("watchpoint", "kprobe:" + p[1], (p[1],), None, ap.span)]
    raise AssertionError(p)


def compile_src(src, params=(), config=None):
    an = Analyzer(parse(Source(src)), expander, params, config).run()
    return compile_program(an)


def listing(src):
    return compile_src(src).programs[0].program


# ------------------------------------------------------------------ exact code

CASES = [
    ('store_const', 'BEGIN { @x = 1; }', 24, """\
0: (7a) *(u64 *)(r10 -16) = 1
1: (7a) *(u64 *)(r10 -24) = 0
2: (18) r1 = map[@x]
4: (bf) r2 = r10
5: (07) r2 += -24
6: (bf) r3 = r10
7: (07) r3 += -16
8: (b7) r4 = 0
9: (85) call bpf_map_update_elem#2
10: (75) if r0 s>= 0x0 goto pc+4
11: (18) r1 = map[.lost][0]+8
13: (b7) r0 = 1
14: (db) lock *(u64 *)(r1 +0) += r0
15: (b7) r0 = 0
16: (95) exit
"""),
    ('count', 'BEGIN { @ = count(); }', 24, """\
0: (7a) *(u64 *)(r10 -16) = 0
1: (18) r1 = map[@]
3: (bf) r2 = r10
4: (07) r2 += -16
5: (85) call bpf_map_lookup_elem#1
6: (15) if r0 == 0x0 goto pc+4
7: (79) r1 = *(u64 *)(r0 +0)
8: (07) r1 += 1
9: (7b) *(u64 *)(r0 +0) = r1
10: (05) goto pc+14
11: (7a) *(u64 *)(r10 -24) = 1
12: (18) r1 = map[@]
14: (bf) r2 = r10
15: (07) r2 += -16
16: (bf) r3 = r10
17: (07) r3 += -24
18: (b7) r4 = 0
19: (85) call bpf_map_update_elem#2
20: (75) if r0 s>= 0x0 goto pc+4
21: (18) r1 = map[.lost][0]+8
23: (b7) r0 = 1
24: (db) lock *(u64 *)(r1 +0) += r0
25: (b7) r0 = 0
26: (95) exit
"""),
    ('printf', 'BEGIN { printf("%d\\n", 5); }', 24, """\
0: (7a) *(u64 *)(r10 -16) = 5
1: (7a) *(u64 *)(r10 -24) = 1
2: (18) r1 = map[.events]
4: (bf) r2 = r10
5: (07) r2 += -24
6: (b7) r3 = 16
7: (b7) r4 = 0
8: (85) call bpf_ringbuf_output#130
9: (75) if r0 s>= 0x0 goto pc+4
10: (18) r1 = map[.lost][0]+0
12: (b7) r0 = 1
13: (db) lock *(u64 *)(r1 +0) += r0
14: (b7) r0 = 0
15: (95) exit
"""),
    ('predicate', 'BEGIN /pid == 1/ { @x = 1; }', 24, """\
0: (85) call bpf_get_current_pid_tgid#14
1: (77) r0 >>= 32
2: (55) if r0 != 0x1 goto pc+15
3: (7a) *(u64 *)(r10 -16) = 1
4: (7a) *(u64 *)(r10 -24) = 0
5: (18) r1 = map[@x]
7: (bf) r2 = r10
8: (07) r2 += -24
9: (bf) r3 = r10
10: (07) r3 += -16
11: (b7) r4 = 0
12: (85) call bpf_map_update_elem#2
13: (75) if r0 s>= 0x0 goto pc+4
14: (18) r1 = map[.lost][0]+8
16: (b7) r0 = 1
17: (db) lock *(u64 *)(r1 +0) += r0
18: (b7) r0 = 0
19: (95) exit
"""),
    ('sdiv', 'BEGIN { $x = 1 + 2; @ = $x / 3; }', 24, """\
0: (b7) r0 = 1
1: (07) r0 += 2
2: (37) r0 s/= 3
3: (7b) *(u64 *)(r10 -16) = r0
4: (7a) *(u64 *)(r10 -24) = 0
5: (18) r1 = map[@]
7: (bf) r2 = r10
8: (07) r2 += -24
9: (bf) r3 = r10
10: (07) r3 += -16
11: (b7) r4 = 0
12: (85) call bpf_map_update_elem#2
13: (75) if r0 s>= 0x0 goto pc+4
14: (18) r1 = map[.lost][0]+8
16: (b7) r0 = 1
17: (db) lock *(u64 *)(r1 +0) += r0
18: (b7) r0 = 0
19: (95) exit
"""),
    ('udiv', 'BEGIN { $x = (uint64)1 + 2; @ = $x / 3; }', 24, """\
0: (b7) r0 = 1
1: (07) r0 += 2
2: (37) r0 /= 3
3: (7b) *(u64 *)(r10 -16) = r0
4: (7a) *(u64 *)(r10 -24) = 0
5: (18) r1 = map[@]
7: (bf) r2 = r10
8: (07) r2 += -24
9: (bf) r3 = r10
10: (07) r3 += -16
11: (b7) r4 = 0
12: (85) call bpf_map_update_elem#2
13: (75) if r0 s>= 0x0 goto pc+4
14: (18) r1 = map[.lost][0]+8
16: (b7) r0 = 1
17: (db) lock *(u64 *)(r1 +0) += r0
18: (b7) r0 = 0
19: (95) exit
"""),
    ('slt', 'BEGIN { $x = 1; @ = $x < 3; }', 24, """\
0: (b7) r0 = 1
1: (bf) r2 = r0
2: (c5) if r2 s< 0x3 goto pc+1
3: (b7) r0 = 0
4: (7b) *(u64 *)(r10 -16) = r0
5: (7a) *(u64 *)(r10 -24) = 0
6: (18) r1 = map[@]
8: (bf) r2 = r10
9: (07) r2 += -24
10: (bf) r3 = r10
11: (07) r3 += -16
12: (b7) r4 = 0
13: (85) call bpf_map_update_elem#2
14: (75) if r0 s>= 0x0 goto pc+4
15: (18) r1 = map[.lost][0]+8
17: (b7) r0 = 1
18: (db) lock *(u64 *)(r1 +0) += r0
19: (b7) r0 = 0
20: (95) exit
"""),
    ('ult', 'BEGIN { $x = (uint64)1; @ = $x < 3; }', 24, """\
0: (b7) r0 = 1
1: (bf) r2 = r0
2: (a5) if r2 < 0x3 goto pc+1
3: (b7) r0 = 0
4: (7b) *(u64 *)(r10 -16) = r0
5: (7a) *(u64 *)(r10 -24) = 0
6: (18) r1 = map[@]
8: (bf) r2 = r10
9: (07) r2 += -24
10: (bf) r3 = r10
11: (07) r3 += -16
12: (b7) r4 = 0
13: (85) call bpf_map_update_elem#2
14: (75) if r0 s>= 0x0 goto pc+4
15: (18) r1 = map[.lost][0]+8
17: (b7) r0 = 1
18: (db) lock *(u64 *)(r1 +0) += r0
19: (b7) r0 = 0
20: (95) exit
"""),
    ('field_s32', 'tracepoint:t:p { @ = args.i32; }', 24, """\
0: (61) r0 = *(u32 *)(r1 +40)
1: (67) r0 <<= 32
2: (c7) r0 s>>= 32
3: (7b) *(u64 *)(r10 -16) = r0
4: (7a) *(u64 *)(r10 -24) = 0
5: (18) r1 = map[@]
7: (bf) r2 = r10
8: (07) r2 += -24
9: (bf) r3 = r10
10: (07) r3 += -16
11: (b7) r4 = 0
12: (85) call bpf_map_update_elem#2
13: (75) if r0 s>= 0x0 goto pc+4
14: (18) r1 = map[.lost][0]+8
16: (b7) r0 = 1
17: (db) lock *(u64 *)(r1 +0) += r0
18: (b7) r0 = 0
19: (95) exit
"""),
    ('field_u16', 'tracepoint:t:p { @ = args.u16; }', 24, """\
0: (69) r0 = *(u16 *)(r1 +44)
1: (7b) *(u64 *)(r10 -16) = r0
2: (7a) *(u64 *)(r10 -24) = 0
3: (18) r1 = map[@]
5: (bf) r2 = r10
6: (07) r2 += -24
7: (bf) r3 = r10
8: (07) r3 += -16
9: (b7) r4 = 0
10: (85) call bpf_map_update_elem#2
11: (75) if r0 s>= 0x0 goto pc+4
12: (18) r1 = map[.lost][0]+8
14: (b7) r0 = 1
15: (db) lock *(u64 *)(r1 +0) += r0
16: (b7) r0 = 0
17: (95) exit
"""),
    ('char_array16', 'tracepoint:t:p { @ = args.comm; }', 32, """\
0: (79) r0 = *(u64 *)(r1 +48)
1: (7b) *(u64 *)(r10 -24) = r0
2: (79) r0 = *(u64 *)(r1 +56)
3: (7b) *(u64 *)(r10 -16) = r0
4: (7a) *(u64 *)(r10 -32) = 0
5: (18) r1 = map[@]
7: (bf) r2 = r10
8: (07) r2 += -32
9: (bf) r3 = r10
10: (07) r3 += -24
11: (b7) r4 = 0
12: (85) call bpf_map_update_elem#2
13: (75) if r0 s>= 0x0 goto pc+4
14: (18) r1 = map[.lost][0]+8
16: (b7) r0 = 1
17: (db) lock *(u64 *)(r1 +0) += r0
18: (b7) r0 = 0
19: (95) exit
"""),
    ('char_array5', 'tracepoint:t:p { @ = args.text; }', 24, """\
0: (7a) *(u64 *)(r10 -16) = 0
1: (61) r0 = *(u32 *)(r1 +68)
2: (63) *(u32 *)(r10 -16) = r0
3: (71) r0 = *(u8 *)(r1 +72)
4: (73) *(u8 *)(r10 -12) = r0
5: (7a) *(u64 *)(r10 -24) = 0
6: (18) r1 = map[@]
8: (bf) r2 = r10
9: (07) r2 += -24
10: (bf) r3 = r10
11: (07) r3 += -16
12: (b7) r4 = 0
13: (85) call bpf_map_update_elem#2
14: (75) if r0 s>= 0x0 goto pc+4
15: (18) r1 = map[.lost][0]+8
17: (b7) r0 = 1
18: (db) lock *(u64 *)(r1 +0) += r0
19: (b7) r0 = 0
20: (95) exit
"""),
]


@pytest.mark.parametrize("name, src, stack, want", CASES, ids=[c[0] for c in CASES])
def test_exact_disassembly(name, src, stack, want):
    prog = listing(src)
    assert prog.disasm() == want.rstrip("\n")
    assert prog.stack_size == stack


def test_exact_instruction_list_of_a_store():
    prog = listing("BEGIN { @x = 1; }")
    # LD_IMM64 of a map carries the map's name for relocation, imm 0 until loaded
    raw = decode(prog.bytes())
    assert [(i.code, i.dst, i.src, i.off, i.imm) for i in raw] == [
        (0x7a, 10, 0, -16, 1),
        (0x7a, 10, 0, -24, 0),
        (0x18, 1, 1, 0, 0),
        (0xbf, 2, 10, 0, 0),
        (0x07, 2, 0, 0, -24),
        (0xbf, 3, 10, 0, 0),
        (0x07, 3, 0, 0, -16),
        (0xb7, 4, 0, 0, 0),
        (0x85, 0, 0, 0, 2),
        # a failed update (a full map) is counted in the LOST element's
        # counter 1: its address (fd low, offset high) and an atomic add
        (0x75, 0, 0, 4, 0),
        (0x18, 1, 2, 0, 8 << 32),
        (0xb7, 0, 0, 0, 1),
        (0xdb, 1, 0, 0, 0),
        (0xb7, 0, 0, 0, 0),
        (0x95, 0, 0, 0, 0),
    ]
    assert prog.map_relocations == [(2, "@x"), (11, LOST)]
    assert all(isinstance(i, Insn) for i in prog.insns)
    assert [i.map_name for i in prog.insns if i.map_name] == ["@x", LOST]


def test_map_fds_are_patched_into_the_encoding():
    prog = listing("BEGIN { @x = 1; }")
    raw = prog.encode({"@x": 42, RINGBUF: 7, LOST: 8})
    assert raw[2 * 8:2 * 8 + 8] == bytes([0x18, 0x11, 0, 0, 42, 0, 0, 0])
    assert raw[11 * 8:11 * 8 + 16] == bytes([0x18, 0x21, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0])
    assert len(raw) == prog.slot_count * 8 == 17 * 8


def test_division_and_modulo_choose_signed_or_unsigned_ops():
    def ops(src):
        return [l.split()[3] for l in listing(src).disasm().splitlines()
                if "/=" in l or "%=" in l or ">>=" in l]
    assert ops("BEGIN { $a = -7; @ = $a / 2; }") == ["s/="]
    assert ops("BEGIN { $a = -7; @ = $a % 2; }") == ["s%="]
    assert ops("BEGIN { @ = nsecs / 2; }") == ["/="]
    assert ops("BEGIN { @ = nsecs % 2; }") == ["%="]
    assert ops("BEGIN { @ = -7 / nsecs; }") == ["/="]          # mixed: unsigned
    assert ops("BEGIN { $a = -8; @ = $a >> 1; }") == ["s>>="]
    assert ops("BEGIN { @ = nsecs >> 1; }") == [">>="]


@pytest.mark.parametrize("cmp, signed_op, unsigned_op", [
    ("<", "s<", "<"), ("<=", "s<=", "<="), (">", "s>", ">"), (">=", "s>=", ">="),
    ("==", "==", "=="), ("!=", "!=", "!="),
])
def test_comparisons_choose_signed_jumps(cmp, signed_op, unsigned_op):
    def jump(src):
        # the first conditional jump is the comparison (the next ones check
        # the map update and the ring buffer reservation)
        line = [l for l in listing(src).disasm().splitlines() if " if " in l][0]
        return line.split(" if ", 1)[1].split()[1]
    assert jump(f"BEGIN {{ $a = 1; @ = $a {cmp} 3; }}") == signed_op
    assert jump(f"BEGIN {{ @ = nsecs {cmp} 3; }}") == unsigned_op
    assert jump(f"BEGIN {{ $a = 1; @ = $a {cmp} nsecs; }}") == unsigned_op


def test_narrow_signed_fields_are_sign_extended():
    for field, load, shift in (("i32", "*(u32 *)(r1 +40)", 32), ("i8", "*(u8 *)(r1 +46)", 56)):
        text = listing(f"tracepoint:t:p {{ @ = args.{field}; }}").disasm().splitlines()
        assert text[0].endswith(f"r0 = {load}")
        assert text[1].endswith(f"r0 <<= {shift}")
        assert text[2].endswith(f"r0 s>>= {shift}")


def test_program_specs():
    cs = compile_src("BEGIN { } END { } tracepoint:t:p { } interval:s:1 { }")
    assert [(p.name, p.prog_type, p.probe.provider) for p in cs.programs] == [
        ("BEGIN", "raw_tracepoint", "BEGIN"), ("END", "raw_tracepoint", "END"),
        ("tracepoint:t:p", "tracepoint", "tracepoint"),
        ("interval:s:1", "perf_event", "interval")]
    for p in cs.programs:
        assert p.program.disasm() == "0: (b7) r0 = 0\n1: (95) exit"


def test_unsupported_provider_is_a_semantic_error():
    with pytest.raises(SemanticError, match="watchpoint probes are not supported yet"):
        compile_src("watchpoint:0x10:8:rw { }")


# ------------------------------------------------------------------ map specs


def spec_tuple(m):
    return (m.map_type, m.key_size, m.value_size, m.max_entries, m.kind)


def test_runtime_maps_always_exist():
    # a script that sends no record gets a one-page ring buffer
    for src in ("BEGIN { }", "BEGIN { @x = 1; exit(); }"):
        quiet = compile_src(src)
        assert list(quiet.maps)[-3:] == [RINGBUF, LOST, EXIT]
        assert spec_tuple(quiet.maps[RINGBUF]) == ("ringbuf", 0, 0, 4096, "ringbuf")
    assert compile_src("config = { perf_rb_pages = 256 } BEGIN { exit(); }"
                       ).maps[RINGBUF].max_entries == 256 * 4096  # asked: kept
    cs = compile_src('BEGIN { printf("x\\n"); }')
    # by default 1/512 of memory, between 64 and 4096 pages per CPU, a power of two
    cpus = os.cpu_count() or 1
    pages = cs.maps[RINGBUF].max_entries // 4096
    assert 64 <= pages <= 4096 * cpus and pages & (pages - 1) == 0
    with open("/proc/meminfo") as f:
        kib = int(f.readline().split()[1])
    want = max(64 * cpus, min(4096 * cpus, kib // 2048))
    assert pages <= want < 2 * pages
    assert spec_tuple(cs.maps[RINGBUF]) == ("ringbuf", 0, 0, pages * 4096, "ringbuf")
    assert spec_tuple(cs.maps[LOST]) == ("array", 4, 8, 1, "lost")
    assert cs.user_maps == []


def test_ring_buffer_size_follows_config():
    cs = compile_src("config = { perf_rb_pages = 8 } BEGIN { }")
    assert cs.maps[RINGBUF].max_entries == 8 * 4096


def test_plain_map_specs():
    cs = compile_src('BEGIN { @i = 1; @s = "abcd"; @c = comm; @k[pid, comm] = nsecs; '
                     '@t = (1, "abcdefghi"); @[1] = (uint8)3; }')
    m = cs.maps
    assert spec_tuple(m["@i"]) == ("hash", 8, 8, 4096, "plain")
    assert spec_tuple(m["@s"]) == ("hash", 8, 8, 4096, "plain")     # string[5] padded
    assert spec_tuple(m["@c"]) == ("hash", 8, 16, 4096, "plain")
    assert spec_tuple(m["@k"]) == ("hash", 24, 8, 4096, "plain")
    assert spec_tuple(m["@t"]) == ("hash", 8, 24, 4096, "plain")
    assert spec_tuple(m["@"]) == ("hash", 8, 8, 4096, "plain")
    assert m["@k"].key == T.TupleType((T.UINT32, T.StringType(16)))
    assert m["@k"].value == T.UINT64
    assert m["@k"].user_key_size == 24
    assert m["@i"].user_key_size == 8
    assert [x.name for x in cs.user_maps] == sorted(x.name for x in cs.user_maps)


def test_aggregation_map_specs_are_per_cpu():
    cs = compile_src("BEGIN { @c = count(); @s = sum(1); @mn = min(1); @mx = max(1); "
                     "@a = avg(1); @st = stats(1); @h = hist(1, 2); @l = lhist(1, 0, 10, 1); "
                     "@hk[comm] = hist(1); }")
    m = cs.maps
    assert spec_tuple(m["@c"]) == ("percpu_hash", 8, 8, 4096, "count")
    assert spec_tuple(m["@s"]) == ("percpu_hash", 8, 8, 4096, "sum")
    assert spec_tuple(m["@mn"]) == ("percpu_hash", 8, 16, 4096, "min")
    assert spec_tuple(m["@mx"]) == ("percpu_hash", 8, 16, 4096, "max")
    assert spec_tuple(m["@a"]) == ("percpu_hash", 8, 16, 4096, "avg")
    assert spec_tuple(m["@st"]) == ("percpu_hash", 8, 16, 4096, "stats")
    # hist/lhist keys carry 8 extra bytes: the bucket index
    assert spec_tuple(m["@h"]) == ("percpu_hash", 16, 16, 4096 * 16, "hist")
    assert spec_tuple(m["@l"]) == ("percpu_hash", 16, 16, 4096 * 16, "lhist")
    assert spec_tuple(m["@hk"]) == ("percpu_hash", 24, 16, 4096 * 16, "hist")
    assert m["@hk"].user_key_size == 16
    assert m["@h"].params == (2,)
    assert m["@l"].params == (0, 10, 1)
    assert m["@c"].params == ()


def test_declared_map_kinds():
    cs = compile_src("let @h = hash(5); let @l = lruhash(6); let @p = percpuhash(7); "
                     "let @pl = percpulruhash(8); let @a = percpuarray(9); let @ac = percpuarray(1); "
                     "let @lc = lruhash(3); let @pc = percpulruhash(4); "
                     "BEGIN { @h[1] = 1; @l[1] = 1; @p[1] = 1; @pl[1] = 1; @a[1] = 1; "
                     "@ac = count(); @lc[1] = count(); @pc[1] = hist(1); }")
    m = cs.maps
    assert spec_tuple(m["@h"]) == ("hash", 8, 8, 5, "plain")
    assert spec_tuple(m["@l"]) == ("lru_hash", 8, 8, 6, "plain")
    assert spec_tuple(m["@p"]) == ("percpu_hash", 8, 8, 7, "plain")
    assert spec_tuple(m["@pl"]) == ("lru_percpu_hash", 8, 8, 8, "plain")
    # array keys are u32 indexes
    assert spec_tuple(m["@a"]) == ("percpu_array", 4, 8, 9, "plain")
    assert spec_tuple(m["@ac"]) == ("percpu_array", 4, 8, 1, "count")
    assert spec_tuple(m["@lc"]) == ("lru_percpu_hash", 8, 8, 3, "count")
    assert spec_tuple(m["@pc"]) == ("lru_percpu_hash", 16, 16, 4 * 16, "hist")
    assert m["@a"].user_key_size == 8


def test_plain_per_cpu_values_are_this_cpus():
    # ++ on a per-CPU map reads and updates this CPU's value: a plain
    # lookup, not the merge over CPUs that aggregations get
    text = compile_src("let @p = percpuhash(2); BEGIN { @p[1]++; }").programs[0].program.disasm()
    assert "map_lookup_elem" in text and "map_lookup_percpu_elem" not in text


def test_max_map_keys_config():
    cs = compile_src("config = { max_map_keys = 100 } BEGIN { @x = 1; @h = hist(1); }")
    assert cs.maps["@x"].max_entries == 100
    assert cs.maps["@h"].max_entries == 1600


def test_map_spec_uses_the_unified_types():
    cs = compile_src('BEGIN { @m["a"] = "b"; } END { @m["abcdefghij"] = "cdefghijklmnopq"; }')
    m = cs.maps["@m"]
    assert m.key == T.TupleType((T.StringType(11),))
    assert m.value == T.StringType(16)
    assert (m.key_size, m.value_size) == (16, 16)


# ------------------------------------------------------------------ event specs


def events(src, params=()):
    return [(e.id, e.kind, e.fmt, e.args, e.map, e.top, e.div)
            for e in compile_src(src, params).events.values()]


def test_printf_event_specs():
    assert events('tracepoint:t:p { printf("%d %s %u\\n", args.i32, comm, pid); '
                  'printf("%s|%s\\n", args.text, str(args.name)); printf("plain\\n"); }') == [
        (1, "printf", "%d %s %u\n", [T.INT32, T.StringType(16), T.UINT32], "", 0, 1),
        (2, "printf", "%s|%s\n", [T.StringType(5), T.StringType(1024)], "", 0, 1),
        (3, "printf", "plain\n", [], "", 0, 1),
    ]


def test_event_layout_offsets():
    (ev,) = compile_src('BEGIN { printf("%s %d %s\\n", "abc", 1, comm); }').events.values()
    assert ev.layout.offsets == [0, 8, 16]
    assert ev.layout.size == 32


def test_other_event_specs():
    got = events('BEGIN { @x = 1; @h = hist(2); print(@x); print(@h, 5, 2); print(comm); '
                 'print((1, "a")); time(); time("%H\\n"); clear(@x); zero(@h); exit(); }'
                 ' END { exit(2); }')
    assert got == [
        (1, "print_map", "", [], "@x", 0, 1),
        (2, "print_map", "", [], "@h", 5, 2),
        (3, "print_value", "", [T.StringType(16)], "", 0, 1),
        (4, "print_value", "", [T.TupleType((T.INT64, T.StringType(2)))], "", 0, 1),
        (5, "time", "%H:%M:%S\n", [], "", 0, 1),
        (6, "time", "%H\n", [], "", 0, 1),
        (7, "clear", "", [], "@x", 0, 1),
        (8, "zero", "", [], "@h", 0, 1),
        (9, "exit", "", [], "", 0, 1),  # the code itself goes in the .exit map
    ]  # END's exit record is the same kind as BEGIN's: one spec


def test_event_ids_are_unique_across_probes_and_expansions():
    cs = compile_src('BEGIN { printf("a\\n"); } tracepoint:t:p { printf("b\\n"); } '
                     'END { printf("c\\n"); }')
    assert [(e.id, e.fmt) for e in cs.events.values()] == [(1, "a\n"), (2, "b\n"), (3, "c\n")]


# ------------------------------------------------------------------ limits


def test_stack_overflow_names_the_probe():
    # strings stay on the stack when on_stack_limit says so (else they go
    # to the scratch map and there is no overflow)
    src = ("config = { max_strlen = 200; on_stack_limit = 4096 } "
           "BEGIN { $a = str(0); $b = str(0); $c = str(0); }")
    with pytest.raises(SemanticError, match="BEGIN: BPF stack limit exceeded"):
        compile_src(src)


def test_large_temporaries_go_to_the_scratch_map():
    cs = compile_src("config = { max_strlen = 1024 } BEGIN { $a = str(0); $b = str(0); "
                     "$c = str(0); @[$a, $b] = count(); }")
    spec = cs.maps[".scratch"]
    # three variables and a two-string key, all 1024 bytes, in one region
    assert (spec.map_type, spec.key_size) == ("array", 4)
    assert spec.value_size >= 5 * 1024
    assert cs.programs[0].program.stack_size <= 512


def test_break_outside_a_loop_is_an_error():
    with pytest.raises(SemanticError, match="'break' used outside of a loop"):
        compile_src("BEGIN { break; }")


def test_large_buffers_are_zeroed_by_one_failing_read():
    # str() of a pointer into a 1024-byte key: the key is zeroed by
    # bpf_probe_read_kernel(key, 1024, NULL), which memsets it on the fault,
    # and then read; no per-8-byte stores. (A plain map: an aggregation's
    # key zeroes its first 64 bytes first, for its short map, below.)
    text = listing("tracepoint:t:p { @[str(args.ua)] = 1; }").disasm()
    lines = [l.split(": ", 1)[1] for l in text.splitlines()]
    assert not any(l.startswith("(7a)") and "(r6 +" in l for l in lines)
    i = lines.index("(85) call bpf_probe_read_kernel#113")
    assert lines[i - 3:i] == ["(bf) r1 = r6", "(b7) r2 = 1024", "(b7) r3 = 0"]
    assert lines[i + 1:i + 4] == ["(bf) r1 = r6", "(b7) r2 = 1024", "(bf) r3 = r7"]
    assert lines[i + 4].startswith("(85) call bpf_probe_read")


def test_small_buffers_are_zeroed_by_stores():
    # 16 bytes: two 8-byte stores stay cheaper than a helper call
    text = listing("tracepoint:t:p { @[str(args.ua, 16)] = count(); }").disasm()
    assert "bpf_probe_read_kernel#113" not in text
    assert text.count("= 0\n") >= 2


def test_long_string_keys_of_aggregations_get_a_short_map():
    """codegen.shortkeys: an aggregation keyed by one max_strlen string,
    used only as @m[k] = agg() and print/clear/zero, keeps short strings in
    a map with a 64-byte key; a map read in the kernel, a histogram and a
    short string key keep one map."""
    cs = compile_src('BEGIN { @[str(nsecs)] = count(); @s[str(nsecs)] = sum(2); '
                     '@r[str(nsecs)] = count(); if (@r[str(nsecs)] > 1) { } '
                     '@h[str(nsecs)] = hist(1); @k[str(nsecs, 20)] = count(); } '
                     'END { print(@); clear(@s); zero(@s); }')
    m = cs.maps
    assert m["@"].short == (".short@", 64) and m["@s"].short == (".short@s", 64)
    assert spec_tuple(m[".short@"]) == ("percpu_hash", 64, 8, 4096, "count")
    assert m[".short@"].key == T.TupleType((T.StringType(64),))
    assert m["@r"].short is None and m["@h"].short is None and m["@k"].short is None
    assert ".short@r" not in m and [s.name for s in cs.user_maps if "short" in s.name] == []


def test_a_short_map_key_zeroes_and_reads_the_string_again_only_when_long():
    text = listing("tracepoint:t:p { @[str(args.ua)] = count(); }").disasm()
    lines = [l.split(": ", 1)[1] for l in text.splitlines()]
    # the short key alone, on the stack: zeroed, read with room for 63 bytes
    assert lines[1:9] == [f"(7a) *(u64 *)(r10 {o}) = 0" for o in range(-72, -8, 8)]
    first = lines.index("(85) call bpf_probe_read_str#45")
    # (the key's address, used three times, made once in r8: the copy
    # into r1 puts the call one later)
    assert first == 14 and lines[first - 2] == "(b7) r2 = 64"
    assert lines[first + 1] == "(65) if r0 s> 0x3f goto pc+23"
    assert lines[first + 2] == "(18) r1 = map[.short@]"
    # no scratch lookup before the short path: only the long one looks it up
    assert lines.index("(85) call bpf_get_smp_processor_id#8") > first + 2
    assert lines.count("(85) call bpf_probe_read_str#45") == 2
    assert "(b7) r2 = 1024" in lines


def test_stacks_in_an_aggregation_key_are_stack_ids():
    cs = compile_src("tracepoint:t:p { @[kstack, ustack(3), pid] = count(); } "
                     "END { print(@); clear(@); }")
    m = cs.maps
    key = m["@"].key
    assert key.elems[0] == T.StackType("kernel", 127, "bpftrace", ids=True)
    assert key.elems[1] == T.StackType("user", 3, "bpftrace", ids=True)
    assert m["@"].key_size == 8 + 16 + 8 and m["@"].copies == ".copies@"
    assert m[".copies@"].key.elems[:2] == (T.StackType("kernel"), T.StackType("user", 3))
    assert spec_tuple(m[".stacks.k127"]) == ("stack_trace", 4, 1016, 4096, "stackids")
    assert spec_tuple(m[".stacks.u3"]) == ("stack_trace", 4, 24, 4096, "stackids")
    lines = [l.split(": ", 1)[1] for l in cs.programs[0].program.disasm().splitlines()]
    calls = [l for l in lines if "call bpf_get_stack" in l]
    # ids on the way in, each -EFAULT told apart (empty stack or failed
    # walk) by a one-frame bpf_get_stack; the copies path walks them again
    assert calls == ["(85) call bpf_get_stackid#27", "(85) call bpf_get_stack#67"] * 2 \
        + ["(85) call bpf_get_stack#67"] * 2
    i = lines.index("(85) call bpf_get_stackid#27")
    assert lines[i + 1:i + 11] == [
        "(bf) r7 = r0", "(75) if r7 s>= 0x0 goto pc+14",
        "(15) if r7 == 0xfffffff2 goto pc+2", "(b7) r8 = 1", "(05) goto pc+11",
        "(bf) r1 = r6", "(bf) r2 = r10", "(07) r2 += -40", "(b7) r3 = 8", "(b7) r4 = 0"]
    # a failed walk counts at kstack's drop site; the id is stored either way
    assert lines[i + 12:i + 17] == [
        "(75) if r0 s>= 0x0 goto pc+4", "(18) r1 = map[.lost][0]+8", "(b7) r0 = 1",
        "(db) lock *(u64 *)(r1 +0) += r0", "(7b) *(u64 *)(r10 -40) = r7"]
    assert (cs.drop_sites[0].kind, cs.drop_sites[0].name) == ("stack", "kstack")
    # the map's lookup comes before any scratch or pid map lookup
    first = lines.index("(85) call bpf_map_lookup_elem#1")
    assert lines[first - 3] == "(18) r1 = map[@]"


def test_stack_keys_stay_copies_where_the_kernel_reads_the_map():
    for src in ("tracepoint:t:p { @[kstack] = count(); } END { for ($kv : @) { } }",
                "tracepoint:t:p { @[kstack] = count(); if (@[kstack] > 1) { } }",
                "tracepoint:t:p { $s = kstack; @[$s] = count(); }",
                "tracepoint:t:p { @[kstack] = 1; }",
                "tracepoint:t:p { @[kstack(0)] = count(); }",
                "tracepoint:t:p { @[kstack] = count(); delete(@, kstack); }"):
        m = compile_src(src).maps
        assert m["@"].copies is None and not any(n.startswith(".stacks") for n in m), src
        assert not any(isinstance(e, T.StackType) and e.ids for e in m["@"].key.elems)


@pytest.mark.parametrize("body", ["@s[kstack] = count();", "@s[kstack] = count(); exit();"])
def test_stack_id_keys_inside_a_for_loop_body_stop_the_loop_when_scratch_fails(body):
    # the copies path's scratch lookup sits in the callback, which has no
    # probe exit of its own to jump to: a failed lookup stops iterating
    src = f"tracepoint:t:p {{ @a[1] = 1; for ($x : @a) {{ {body} }} }}"
    text = listing(src).disasm()
    main, _, cb = text.partition("for_map_1:")
    assert "call bpf_get_stackid#27" in cb and "call bpf_get_stackid#27" not in main
    lines = [l.split(": ", 1)[1] for l in cb.splitlines() if ": " in l]
    lookups = [i for i, l in enumerate(lines) if l == "(85) call bpf_map_lookup_elem#1"]
    assert lookups, cb


def test_hist_log2_is_a_short_binary_search():
    # one immediate compare, shift and add per step; the 32 step tests
    # the high half; the last step has no branch; the index accumulates
    # straight into its register (hist(x) with k = 0)
    full = listing("tracepoint:syscalls:sys_enter_getppid { @h = hist(nsecs); }")
    full = full.disasm().splitlines()
    assert sum(">>= 32" in x for x in full) == 1
    assert sum(" < 0x" in x for x in full) == 4  # 16, 8, 4, 2
    # a mask of 20 bits: no 32 step and no negative test
    masked = listing("tracepoint:syscalls:sys_enter_getppid { @h = hist(nsecs & 0xfffff); }")
    masked = masked.disasm().splitlines()
    assert not any(">>= 32" in x or "s< 0x0" in x for x in masked)
    assert len(full) - len(masked) == 5  # less the mask's own instructions


def test_pid_and_tid_share_one_helper_call_where_its_result_reaches():
    def calls(src):
        text = listing(src).disasm()
        return text.count("call bpf_get_current_pid_tgid")
    assert calls('tracepoint:syscalls:sys_enter_getppid { printf("%d %d\\n", pid, tid); }') == 1
    # after a join (a label) the first result may not have been taken: call again
    assert calls("tracepoint:syscalls:sys_enter_getppid { @a = pid; "
                 "if (nsecs > 5) { @b = 1; } @c = tid; }") == 2
