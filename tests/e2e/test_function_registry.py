"""A function registered by the test itself runs in the kernel: its value
comes back through a printf record."""

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.sema import registry
from bpfscope.sema import types as T

pytestmark = pytest.mark.usefixtures("kernel")


def check_digits(an, e):
    """toy_digits(tens, ones): tens * 10 + ones."""
    an.nargs(e, 2)
    for i in range(2):
        an.int_arg(e, i)
    return T.INT64


def lower_digits(lw, e):
    tens, ones = (lw.int_expr(a) for a in e.args)
    r = lw.b.vreg()
    lw.b.mov(r, tens.reg)
    lw.b.alu("mul", r, 10)
    lw.b.alu("add", r, ones.reg)
    return type(tens)(r)


def test_a_toy_function_runs_in_a_script(no_leaks):
    registry.register(registry.Function("toy_digits", check_digits, lower=lower_digits))
    try:
        script = api.compile_script('BEGIN { $n = 4; printf("%d %d\\n", toy_digits($n, 2), '
                                    'toy_digits(toy_digits(1, 2), -3)); exit(); }')
    finally:
        registry.unregister("toy_digits")
    out, err = io.StringIO(), io.StringIO()
    assert api.run(script, TextOutput(out, err), duration=5) == 0
    assert out.getvalue() == "42 117\n\n\n"  # then the end-of-run lines
