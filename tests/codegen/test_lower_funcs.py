"""Lowering of the byte and string functions where the exact code
matters: bounds the verifier must see, constants folded at compile time."""

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

ARGS = [ArgField("a", 8, 8, True, "int", "long"),
        ArgField("ip", 16, 4, False, "array", "__u8[4]", 4)]


def expander(ap):
    if ap.parts[0] in ("BEGIN", "END"):
        return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]
    return [ExpandedProbe("tracepoint", "tracepoint:t:p", ("t", "p", 1), ARGS, ap.span)]


def disasm(src, config=None) -> list[str]:
    an = Analyzer(parse(Source(src)), expander, (), config).run()
    return [line.split(": ", 1)[1] for line in
            compile_program(an).programs[0].program.disasm().splitlines()]


def test_buf_with_a_computed_length_bounds_it_before_the_read():
    code = disasm('tracepoint:t:p { @ = buf(args.a, args.a); }', {"max_strlen": 16})
    read = code.index("(85) call bpf_probe_read#4")
    assert code[:read + 2] == [
        "(7a) *(u64 *)(r10 -32) = 0",      # count and 16 bytes zeroed
        "(7a) *(u64 *)(r10 -24) = 0",
        "(7a) *(u64 *)(r10 -16) = 0",
        "(79) r6 = *(u64 *)(r1 +8)",       # the length
        "(b5) if r6 <= 0x10 goto pc+5",    # at most max_strlen
        "(18) r2 = map[.lost][0]+8",       # else counted as cut (drop site 1),
        "(b7) r0 = 1",                     # with no call: ctx stays in r1
        "(db) lock *(u64 *)(r2 +0) += r0",
        "(b7) r6 = 16",                    # and cut
        "(79) r3 = *(u64 *)(r1 +8)",       # the address
        "(bf) r1 = r10",
        "(07) r1 += -24",
        "(bf) r2 = r6",
        "(85) call bpf_probe_read#4",
        "(7b) *(u64 *)(r10 -32) = r6",     # the count is the bounded length
    ]


def test_buf_of_an_array_field_copies_from_the_context():
    code = disasm('tracepoint:t:p { @ = buf(args.ip); }')
    assert code[:5] == [
        "(7a) *(u64 *)(r10 -24) = 0",
        "(7a) *(u64 *)(r10 -16) = 0",
        "(61) r0 = *(u32 *)(r1 +16)",      # the 4 bytes of the field
        "(63) *(u32 *)(r10 -16) = r0",
        "(7a) *(u64 *)(r10 -24) = 4",      # a count known at compile time
    ]


def test_percpu_kaddr_loads_the_variables_btf_id_and_asks_for_a_cpus_copy(monkeypatch):
    import types

    import bpfscope.btf
    import bpfscope.ksyms
    btf = types.SimpleNamespace(find=lambda name, kind: 4242 if name == "runqueues" else None)
    syms = types.SimpleNamespace(lookup_name=lambda name: 0x31bc0)
    monkeypatch.setattr(bpfscope.btf, "load_vmlinux", lambda: btf)
    monkeypatch.setattr(bpfscope.ksyms, "kernel_symbols", lambda: syms)
    code = disasm('BEGIN { @a = percpu_kaddr("runqueues"); @b = percpu_kaddr("runqueues", 1); }')
    assert code[:3] == ["(18) r1 = 0x1092",              # 4242, a BTF id (below)
                        "(85) call bpf_this_cpu_ptr#154",
                        "(7b) *(u64 *)(r10 -16) = r0"]
    i = code.index("(85) call bpf_per_cpu_ptr#153")
    assert code[i - 2:i + 2] == ["(b7) r2 = 1", "(18) r1 = 0x1092",
                                 "(85) call bpf_per_cpu_ptr#153", "(7b) *(u64 *)(r10 -16) = r0"]
    an = Analyzer(parse(Source('BEGIN { @a = percpu_kaddr("runqueues"); }')), expander).run()
    script = compile_program(an)
    raw = script.programs[0].program.encode({name: 3 for name in script.maps})
    # LD_IMM64 with src_reg BPF_PSEUDO_BTF_ID and the id in imm
    assert raw[0] == 0x18 and raw[1] >> 4 == 3 and int.from_bytes(raw[4:8], "little") == 4242


def test_percpu_kaddr_of_a_variable_the_kernel_does_not_have(monkeypatch):
    import types

    import pytest

    import bpfscope.btf
    from bpfscope.errors import SemanticError
    monkeypatch.setattr(bpfscope.btf, "load_vmlinux",
                        lambda: types.SimpleNamespace(find=lambda name, kind: None))
    with pytest.raises(SemanticError, match="no per-CPU kernel variable named 'nope'"):
        disasm('BEGIN { @a = percpu_kaddr("nope"); }')


def test_strstr_calls_bpf_strnstr_and_makes_every_error_minus_one(monkeypatch):
    monkeypatch.setattr(Analyzer, "kernel_function", lambda self, name: 777)
    code = disasm('BEGIN { $a = "abc"; $b = "b"; @ = strstr($a, $b); }')
    call = code.index("(85) call kernel-function#777")
    assert code[call - 5:call + 6] == [
        "(bf) r1 = r10", "(07) r1 += -16",           # the haystack
        "(bf) r2 = r10", "(07) r2 += -24",           # the needle
        "(b7) r3 = 8",                               # the haystack's room
        "(85) call kernel-function#777",
        "(67) r0 <<= 32", "(c7) r0 s>>= 32",         # an int: sign-extended
        "(75) if r0 s>= 0x0 goto pc+1",
        "(b7) r0 = -1",                              # -ENOENT, -E2BIG, ...: not found
        "(7b) *(u64 *)(r10 -32) = r0"]
