"""A range whose bound is not a literal runs through bpf_loop only where the
kernel's BTF has bpf_loop (Linux 5.17); before that it stays an open-coded
loop, as it was, which the verifier takes when it can bound it."""

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import RECORD, ExpandedProbe

SRC = 'tracepoint:a:b { $n = 3; for $i : 0..$n { @r = sum(1); } }'


def code(monkeypatch, has_loop: bool) -> str:
    real = Analyzer.kernel_function

    def kernel_function(self, name):
        if name == "bpf_loop" and not has_loop:
            return None
        return real(self, name) if name != "bpf_loop" else 1

    monkeypatch.setattr(Analyzer, "kernel_function", kernel_function)

    def expander(ap):
        return [ExpandedProbe("tracepoint", ap.raw, (), None, ap.span, layout=RECORD)]
    an = Analyzer(parse(Source(SRC)), expander).run()
    return compile_program(an).programs[0].program.disasm()


@pytest.mark.parametrize("has_loop", [True, False])
def test_bpf_loop_only_where_the_kernel_has_it(monkeypatch, has_loop):
    assert ("call bpf_loop#181" in code(monkeypatch, has_loop)) is has_loop
