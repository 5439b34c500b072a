"""Printer: exact canonical text and minimal parentheses."""

from bpfscope.errors import Source, Span
from bpfscope.lang import ast
from bpfscope.lang.parser import parse, parse_expr
from bpfscope.lang.printer import quote_string, to_source

SP = Span(1, 1, 1, 1)


def var(name):
    return ast.Variable(SP, name)


def test_canonical_program_text():
    text = ('config={stack_mode=perf}\n#include <a.h>\nlet @a=hash(1);'
            'kprobe:f,kprobe:g/pid==1/{@a[tid]=count();if($x){$y++}else{'
            'for($i:0..3){}}}BEGIN{}')
    assert to_source(parse(Source(text))) == (
        "#include <a.h>\n"
        "\n"
        "config = {\n"
        "    stack_mode = perf;\n"
        "}\n"
        "\n"
        "let @a = hash(1);\n"
        "\n"
        "kprobe:f, kprobe:g /pid == 1/ {\n"
        "    @a[tid] = count();\n"
        "    if ($x) {\n"
        "        $y++;\n"
        "    } else {\n"
        "        for ($i : 0..3) {}\n"
        "    }\n"
        "}\n"
        "\n"
        "BEGIN {}\n")


def test_macro_and_fn_text():
    text = "macro m(x, $a) { $a = 1; x + $a } fn f($a: uint8 *): int64 { return 1 }"
    assert to_source(parse(Source(text))) == (
        "macro m(x, $a) {\n"
        "    $a = 1;\n"
        "    x + $a\n"
        "}\n"
        "\n"
        "fn f($a: uint8 *): int64 {\n"
        "    return 1;\n"
        "}\n")


def test_minimal_parentheses_for_built_trees():
    a, b, c = var("a"), var("b"), var("c")
    sub_right = ast.Binop(SP, "-", a, ast.Binop(SP, "-", b, c))
    assert to_source(sub_right) == "$a - ($b - $c)"
    sub_left = ast.Binop(SP, "-", ast.Binop(SP, "-", a, b), c)
    assert to_source(sub_left) == "$a - $b - $c"
    mul_of_sum = ast.Binop(SP, "*", ast.Binop(SP, "+", a, b), c)
    assert to_source(mul_of_sum) == "($a + $b) * $c"
    tern_in_cond = ast.Ternary(SP, ast.Ternary(SP, a, b, c), b, c)
    assert to_source(tern_in_cond) == "($a ? $b : $c) ? $b : $c"
    neg_neg = ast.Unop(SP, "-", ast.Unop(SP, "-", a))
    assert to_source(neg_neg) == "- -$a"
    deref_field = ast.FieldAccess(SP, ast.Unop(SP, "*", a), "x", True)
    assert to_source(deref_field) == "(*$a)->x"
    cast_sum = ast.Cast(SP, ast.TypeSpec(SP, "uint8"), ast.Binop(SP, "+", a, b))
    assert to_source(cast_sum) == "(uint8)($a + $b)"


def test_expression_round_trip_keeps_text():
    for text in ["$a - ($b - $c)", "!($a && $b)", "(uint32)$a[1]",
                 "$t.0.1", "@m[1, \"x\"]", "sizeof(struct X)",
                 "(a=1, b=(2, 3))", "$x ? $y : $z", "-$x++",
                 "offsetof(struct X, a.b)", "*(uint8 *)$p", "&$s->f"]:
        assert to_source(parse_expr(text)) == text


def test_quote_string():
    assert quote_string('a"b\\c\n\t\r\x01é') == '"a\\"b\\\\c\\n\\t\\r\\001é"'
    assert parse_expr(quote_string("\x01" + "7é")).value == "\x017é"


def test_discard_prints_back():
    text = "BEGIN {\n    _ = has_key(@a, 1);\n    _ = { 1 };\n}\n"
    assert to_source(parse(Source(text))) == text
