"""A function registered by the test itself runs in the kernel: its value
comes back through a printf record."""

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.sema import registry
from bpfscope.sema import types as T

pytestmark = pytest.mark.usefixtures("kernel")


def check_triple(an, e):
    an.nargs(e, 1)
    an.int_arg(e, 0)
    return T.UINT64


def lower_triple(lw, e):
    v = lw.int_expr(e.args[0])
    r = lw.b.vreg()
    lw.b.mov(r, v.reg)
    lw.b.alu("mul", r, 3)
    return type(v)(r)


def test_a_toy_function_runs_in_a_script(no_leaks):
    registry.register(registry.Function("toy_triple", check_triple, lower=lower_triple))
    try:
        script = api.compile_script('BEGIN { $n = 14; printf("%d %d\\n", toy_triple($n), '
                                    'toy_triple(toy_triple(1))); exit(); }')
    finally:
        registry.unregister("toy_triple")
    out, err = io.StringIO(), io.StringIO()
    assert api.run(script, TextOutput(out, err), duration=5) == 0
    assert out.getvalue() == "42 9\n\n\n"  # then the end-of-run lines
