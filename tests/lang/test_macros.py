"""Macro expansion on the AST: what calls become (printed back as source),
hygiene of the macros' own variables and maps, overloading by parameter
kind, and each misuse as a located error."""

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang import ast
from bpfscope.lang.macros import expand_macros
from bpfscope.lang.parser import parse
from bpfscope.lang.printer import to_source


def expand(text):
    return expand_macros(parse(Source(text)))


def body(text):
    """The first probe's body after expansion, as source lines."""
    src = to_source(expand(text).probes[0])
    return [line.strip() for line in src.splitlines()[1:-1]]


def err(text):
    with pytest.raises(SemanticError) as ei:
        expand(text)
    sp = ei.value.span
    return ei.value.message, (sp.line, sp.col, sp.end_col)


def variables(node):
    return [n for n in ast.walk(node) if isinstance(n, ast.Variable)]


def test_expression_macros_become_block_expressions():
    assert body("macro one() { 1 } macro add(x) { x + one } "
                "BEGIN { $a = add(2 * 3); $b = one(); }") == [
        "$a = { 2 * 3 + { 1 } };", "$b = { 1 };"]


def test_statement_macros_become_blocks():
    assert body("macro inc($v, @m) { $v += 1; @m[$v] = count(); } "
                "BEGIN { $x = 1; inc($x, @c); }") == [
        "$x = 1;", "{", "$x += 1;", "@c[$x] = count();", "}"]


def test_expression_argument_is_pasted_at_each_use():
    assert body('macro thrice(x) { x; x; x; } BEGIN { thrice({ printf("hi") }); }') == [
        "{", '({ printf("hi") });', '({ printf("hi") });', '({ printf("hi") });', "}"]


def test_variable_or_map_given_for_an_expression_is_wrapped():
    # so the macro cannot assign the caller's variable through it
    assert body("macro twice(x) { x * 2 } BEGIN { $a = 1; $b = twice($a) + twice(@m); }") == [
        "$a = 1;", "$b = { { $a } * 2 } + { { @m } * 2 };"]


def test_own_variables_are_renamed_and_parameters_are_the_callers():
    prog = expand("macro m($p) { $t = $p; $p = 2; $t } BEGIN { $t = 1; $r = m($t); }")
    vs = variables(prog.probes[0].body)
    assert [(v.name, v.binding) for v in vs] == [
        ("t", ""), ("r", ""), ("t", "t'm"), ("t", ""), ("t", ""), ("t", "t'm")]


def test_value_macro_as_a_statement_keeps_its_value_as_a_statement():
    assert body("macro m() { 1 + 1 } BEGIN { m(); }") == ["{", "1 + 1;", "}"]


def test_nested_macros_and_predicates():
    assert body("macro big(x) { x > 10 } macro huge(x) { big(x * 10) } "
                "BEGIN /huge(pid)/ { exit(); }") == ["exit();"]
    pred = expand("macro big(x) { x > 10 } BEGIN /big(pid)/ { }").probes[0].predicate
    assert isinstance(pred, ast.BlockExpr) and isinstance(pred.value, ast.Binop)


def test_overloads_by_parameter_kind():
    assert body("macro f($v) { 1 } macro f(v) { 2 } BEGIN { $a = 0; $b = f($a) + f(3); }") == [
        "$a = 0;", "$b = { 1 } + { 2 };"]


def test_expression_for_a_variable_parameter_is_pasted_at_each_use():
    # 0.26: a $param takes any expression, copied wherever the body reads it
    assert body("macro inc($x) { $x + 1 } BEGIN { $a = inc(2 * 3); $b = inc($a); }") == [
        "$a = { 2 * 3 + 1 };", "$b = { $a + 1 };"]


def test_expression_prefers_the_overload_of_its_own_kind():
    assert body("macro f($x) { $x + 1 } macro f(x) { x + 2 } BEGIN { $a = f(3); $b = f($a); }") == [
        "$a = { 3 + 2 };", "$b = { $a + 1 };"]


def test_non_macro_calls_are_left_alone():
    assert body("macro m() { 1 } BEGIN { printf(\"%d\", count); kstack(perf); }") == [
        'printf("%d", count);', "kstack(perf);"]


@pytest.mark.parametrize("text, message, span", [
    ("macro u() { @x++ } BEGIN { u(); }",
     "Unhygienic access to map: @x. Maps must be passed into the macro as arguments.",
     (1, 13, 15)),
    ("macro w($x) { $x++ } BEGIN { @x = 1; w(@x); }",
     "Mismatched arg. w() expects a variable for arg $x but got a map.", (1, 40, 42)),
    ("macro w(@x) { @x++ } BEGIN { w(1 + 1); }",
     "Mismatched arg. w() expects a map for arg @x but got an expression.", (1, 32, 37)),
    ("macro w($x) { $x++ } BEGIN { w(@m); }",
     "Mismatched arg. w() expects a variable for arg $x but got a map.", (1, 32, 34)),
    ("macro s($x) { $x + 1 } BEGIN { $a = s(1, 2); }",
     "Call to s() has the wrong number of arguments. Expected: 1 but got 2", (1, 37, 44)),
    ("macro s(x) { x } BEGIN { $a = s; }",
     "Call to s() has the wrong number of arguments. Expected: 1 but got 0", (1, 31, 32)),
    ("macro a1(x) { a3(x) } macro a2(x) { a1(x) } macro a3(x) { a2(x) } BEGIN { $v = a3(1); }",
     "Recursive macro call detected. Call chain: a3 > a2 > a1 > a3", (1, 15, 20)),
    ("macro r() { r() } BEGIN { $v = r(); }",
     "Recursive macro call detected. Call chain: r > r", (1, 13, 16)),
    ("macro s($x) { $x += 1; } BEGIN { $a = 1; $b = s($a); }",
     "Macro 's' expanded to a block instead of a block expression. Try removing the "
     "semicolon from the end of the last statement in the macro body.", (1, 47, 52)),
    ("macro s($x, $x) { $x } BEGIN { }",
     "Variable for macro argument has already been used: $x", (1, 1, 23)),
    ("macro s(@m, @m) { 1 } BEGIN { }",
     "Map for macro argument has already been used: @m", (1, 1, 22)),
    ("macro s($x) { 1 } macro s($y) { 2 } BEGIN { }",
     "Redefinition of macro: s", (1, 19, 36)),
    ("macro s(x) { 1 } macro s($y) { 2 } BEGIN { }",
     "Redefinition of macro: s", (1, 18, 35)),
    ("macro s($x) { let $x = 1; $x } BEGIN { $a = 1; $b = s($a); }",
     "Variable declaration shadows macro arg $x", (1, 15, 25)),
])
def test_misuse_is_a_located_error(text, message, span):
    assert err(text) == (message, span)


def test_a_scripts_macro_replaces_a_builtin_of_that_name():
    # as in 0.26, where comm is a macro of the standard library over
    # __builtin_comm: a script's macro comm() is used for comm and comm()
    assert body('macro comm() { "mine" } macro cpu() { __builtin_cpu + 1 } '
                "BEGIN { $a = comm; $b = comm(); $c = __builtin_comm; $d = cpu; $e = pid; }") == [
        '$a = { "mine" };', '$b = { "mine" };', "$c = __builtin_comm;",
        "$d = { __builtin_cpu + 1 };", "$e = pid;"]


def test_the_standard_librarys_macros_and_a_script_replacing_them():
    # ppid(task) is bpftrace 0.26's library macro; bare ppid stays the builtin
    assert body("BEGIN { $a = ppid(curtask); $b = ppid; }") == [
        "$a = { curtask->real_parent->pid };", "$b = ppid;"]
    assert body("macro ppid(t) { 7 } BEGIN { $a = ppid(curtask); }") == ["$a = { 7 };"]


def test_pcomm_is_the_librarys_macro_over_the_group_leader():
    assert body("BEGIN { $a = pcomm; $b = pcomm(curtask); $c = pcomm(); }") == [
        "$a = { curtask->group_leader->comm };", "$b = { curtask->group_leader->comm };",
        "$c = { curtask->group_leader->comm };"]


def test_the_standard_librarys_code_names_its_own_file():
    prog = expand("BEGIN { $a = ppid(curtask); }")
    nodes = list(ast.walk(prog.probes[0].body[0].value.value))
    # the library's code names its file; the argument pasted in is the script's
    assert [n.span.file.name if n.span.file else "script" for n in nodes] == [
        "stdlib/base.bt", "stdlib/base.bt", "script"]
