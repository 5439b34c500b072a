"""dw_ustack()'s lowering: the registers from a uprobe's context or, in a
profile probe, from the thread's task (bpf_task_pt_regs), then the stack
copy tried at halving sizes until a read succeeds."""

import re

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import PT_REGS, RUN_ONCE, USER_REGS, ExpandedProbe


def compiled(src, layout):
    def expander(ap):
        return [ExpandedProbe(ap.parts[0], ap.raw, (), None, ap.span, context="regs",
                              layout=layout)]
    an = Analyzer(parse(Source(src)), expander).run()
    return an, compile_program(an).programs[0].program.disasm()


def test_a_uprobe_reads_the_registers_from_its_context():
    an, code = compiled('uprobe:x { printf("%s", dw_ustack(perf, 9)); }', USER_REGS)
    (ev,) = [ev for ev in compile_program(an).events.values() if ev.kind == "printf"]
    assert ev.layout.elems == (T.DwStackType(9, "perf"),)
    ctx = re.search(r"\(bf\) (r\d+) = r1", code).group(1)   # where the context is kept
    assert f"= *(u64 *)({ctx} +128)" in code and f"= *(u64 *)({ctx} +152)" in code  # rip, rsp
    assert "task_pt_regs" not in code
    sizes = [int(line.split("= ")[1]) for line in code.splitlines()
             if line.split(": ", 1)[1].startswith("(b7) r2 = ")]
    assert [s for s in sizes if s >= 256][-6:] == [8192, 4096, 2048, 1024, 512, 256]
    assert code.count("call bpf_probe_read_user#112") == 6


def test_a_profile_probe_takes_the_threads_user_registers():
    _, code = compiled('profile:hz:99 { printf("%s", dw_ustack()); }', PT_REGS)
    assert "call bpf_get_current_task_btf#158" in code
    assert "call bpf_task_pt_regs#175" in code
    assert "call bpf_probe_read_kernel#113" in code


def _types(src, layout, provider_of=lambda p: p):
    def expander(ap):
        return [ExpandedProbe(provider_of(ap.parts[0]), ap.raw, (), None, ap.span,
                              context="regs", layout=layout)]
    an = Analyzer(parse(Source(src)), expander).run()
    return [s.expr.type for p in an.program.probes for s in p.body]


def test_config_ustack_unwind_dwarf_turns_ustack_into_dw_ustack():
    src = 'config = { ustack_unwind = dwarf } profile:hz:99 { ustack; ustack(perf, 4); kstack; }'
    bare, limited, kernel = _types(src, PT_REGS)
    assert isinstance(bare, T.DwStackType) and bare.mode == "bpftrace"
    assert limited == T.DwStackType(4, "perf")
    assert isinstance(kernel, T.StackType) and kernel.kind == "kernel"
    # frame pointers by default, and where dw_ustack() cannot unwind (BEGIN)
    assert isinstance(_types('profile:hz:99 { ustack; }', PT_REGS)[0], T.StackType)
    begin = 'config = { ustack_unwind = dwarf } BEGIN { ustack; }'
    assert isinstance(_types(begin, RUN_ONCE)[0], T.StackType)


def test_config_ustack_unwind_takes_two_words():
    import pytest
    from bpfscope.errors import SemanticError
    with pytest.raises(SemanticError, match="Valid values: frame_pointer, dwarf"):
        _types('config = { ustack_unwind = lbr } profile:hz:99 { ustack; }', PT_REGS)


def test_unstable_dw_ustack_error_refuses_it_in_bpftrace_026s_words():
    import pytest
    from bpfscope.errors import SemanticError
    with pytest.raises(SemanticError, match=r"dw_ustack \(DWARF stack unwinding\) feature is "
                       r"not enabled by default\. To enable this unstable feature, set the "
                       r"config flag to enable\. unstable_dw_ustack=enable"):
        _types('config = { unstable_dw_ustack = error } profile:hz:99 { dw_ustack(); }',
               PT_REGS)
    for flag in ("warn", "enable"):
        (t,) = _types(f'config = {{ unstable_dw_ustack = {flag} }} profile:hz:99 '
                      '{ dw_ustack(); }', PT_REGS)
        assert isinstance(t, T.DwStackType)
