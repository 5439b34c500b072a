"""User functions inlined at their calls: the copy each call gets, the
renaming of the function's variables, and misuse as located errors."""

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang import ast
from bpfscope.lang.userfuncs import inline_functions
from bpfscope.lang.parser import parse
from bpfscope.lang.printer import to_source


def inline(text):
    return inline_functions(parse(Source(text)))


def err(text):
    with pytest.raises(SemanticError) as ei:
        inline(text)
    sp = ei.value.span
    return ei.value.message, (sp.line, sp.col, sp.end_col)


def test_each_call_gets_its_own_copy_of_the_body():
    prog = inline("fn f($a: int64): int64 { $t = $a + 1; return $t; } "
                  "BEGIN { $t = 5; $x = f($t) + f(2); }")
    value = prog.probes[0].body[1].value
    one, two = value.left, value.right
    assert isinstance(one, ast.InlineCall) and isinstance(two, ast.InlineCall)
    assert one.body is not two.body and one.body[0] is not two.body[0]
    assert [type(a) for a in one.args] == [ast.Variable]
    # the argument is the caller's $t; the body's $t and $a are the function's
    assert one.args[0].key == "t"
    assert [(v.name, v.key) for v, _ in one.params] == [("a", "a'fn f")]
    assert [(n.name, n.key) for n in ast.walk(one.body) if isinstance(n, ast.Variable)] == [
        ("t", "t'fn f"), ("a", "a'fn f"), ("t", "t'fn f")]
    assert one.params[0][1].name == "int64" and one.return_type.name == "int64"


def test_inlined_calls_print_back_as_calls():
    text = ("fn f($a: int64): int64 {\n    return $a;\n}\n\n"
            "BEGIN {\n    @x = f(f(1) + 2);\n}\n")
    assert to_source(inline(text)) == text


def test_calls_inside_functions_and_predicates():
    prog = inline("fn g($v: int64): int64 { return $v * 2; } "
                  "fn f($v: int64): int64 { return g($v) + 1; } BEGIN /f(1) == 3/ { }")
    pred = prog.probes[0].predicate.left
    assert pred.name == "f"
    inner = pred.body[0].value.left
    assert isinstance(inner, ast.InlineCall) and inner.name == "g"
    # the argument written inside f is f's variable
    assert inner.args[0].key == "v'fn f"
    assert inner.params[0][0].key == "v'fn g"


@pytest.mark.parametrize("text, message, span", [
    ("fn f($a: int64): int64 { return g($a); } fn g($a: int64): int64 { return f($a); } "
     "BEGIN { $x = f(1); }",
     "Recursive function call detected. Call chain: f > g > f", (1, 74, 79)),
    ("fn f(): int64 { return f(); } BEGIN { $x = f(); }",
     "Recursive function call detected. Call chain: f > f", (1, 24, 27)),
    ("fn f($a: int64): int64 { return $a; } BEGIN { $x = f(1, 2); }",
     "Function f takes 1 argument (2 provided)", (1, 52, 59)),
    ("fn f(): int64 { return 1; } fn f(): int64 { return 2; } BEGIN { }",
     "Function f is already defined", (1, 29, 56)),
    ("fn f($a: int64, $a: int64): int64 { return 1; } BEGIN { }",
     "Function f has two parameters named $a", (1, 1, 48)),
])
def test_misuse_is_a_located_error(text, message, span):
    assert err(text) == (message, span)
