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


def run_with(record, text: str) -> str:
    """The output of ``text`` run with ``record`` in the function table."""
    registry.register(record)
    try:
        script = api.compile_script(text)
    finally:
        registry.unregister(record.name)
    out, err = io.StringIO(), io.StringIO()
    assert api.run(script, TextOutput(out, err), duration=5) == 0, err.getvalue()
    return out.getvalue()


def test_a_toy_function_runs_in_a_script(no_leaks):
    out = run_with(registry.Function("toy_digits", check_digits, lower=lower_digits),
                   'BEGIN { $n = 4; printf("%d %d\\n", toy_digits($n, 2), '
                   'toy_digits(toy_digits(1, 2), -3)); exit(); }')
    assert out == "42 117\n\n\n"  # then the end-of-run lines


def test_a_toy_value_type_prints_itself_in_printf_and_maps(no_leaks):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Bits(T.Type):
        """A byte printed as its eight bits."""
        size = 8

        def show_bytes(self, data, off):
            return f"{data[off]:08b}", bytes(data[off:off + 1])

        def __str__(self):
            return "bits"

    def check(an, e):
        an.nargs(e, 1)
        an.int_arg(e, 0)
        return Bits()

    def store(lw, e, dst, t):
        lw.b.stx(8, dst.base, dst.off, lw.int_expr(e.args[0]).reg)

    out = run_with(registry.Function("toy_bits", check, store=store),
                   'BEGIN { printf("<%s>\\n", toy_bits(5)); @b = toy_bits(160); exit(); }')
    assert out == "<00000101>\n\n\n@b: 10100000\n"


def test_a_toy_builtin_variable_runs_in_a_script(no_leaks):
    """``toy_tgid`` (an integer from a helper) and ``toy_word`` (a string
    it writes into memory) are registered by the test, read in BEGIN,
    which runs from this process, and printed by printf and as map keys."""
    import os

    from bpfscope.codegen.insn import R0
    from bpfscope.codegen.loweringvalues import Int
    from bpfscope.lang import ast

    def lower_tgid(lw, e):
        r = lw.b.vreg()
        lw.b.call("get_current_pid_tgid")
        lw.b.mov(r, R0)
        lw.b.alu("rsh", r, 32)
        return Int(r)

    def store_word(lw, e, dst, t):
        lw.store_string(ast.String(e.span, "toy"), dst, t.length)

    registry.register(registry.BuiltinVar("toy_word", lambda an, e: T.StringType(4),
                                          store=store_word))
    try:
        out = run_with(registry.BuiltinVar("toy_tgid", lambda an, e: T.UINT32, lower=lower_tgid),
                       'BEGIN { printf("%d %s\\n", toy_tgid, toy_word); '
                       '@[toy_word, toy_tgid == pid] = count(); exit(); }')
    finally:
        registry.unregister("toy_word")
    assert out == f"{os.getpid()} toy\n\n\n@[toy, true]: 1\n"
