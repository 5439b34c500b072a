"""Parser: tree shapes, precedence, name classification, spans."""


import pytest

from bpfscope.errors import Source, Span, SyntaxErr
from bpfscope.lang import ast
from bpfscope.lang.parser import parse, parse_expr
from bpfscope.lang.printer import to_source


def shape(e):
    """Fully parenthesised rendering of an expression tree."""
    if isinstance(e, ast.Binop):
        return f"({shape(e.left)} {e.op} {shape(e.right)})"
    if isinstance(e, ast.Unop):
        inner = shape(e.operand)
        return f"({inner}{e.op})" if e.postfix else f"({e.op}{inner})"
    if isinstance(e, ast.Ternary):
        return f"({shape(e.cond)} ? {shape(e.then)} : {shape(e.orelse)})"
    if isinstance(e, ast.Cast):
        return f"(({to_source(e.type_spec)}){shape(e.expr)})"
    if isinstance(e, ast.FieldAccess):
        return f"({shape(e.expr)}{'->' if e.arrow else '.'}{e.field})"
    if isinstance(e, ast.Index):
        return f"({shape(e.expr)}[{shape(e.index)}])"
    return to_source(e)


@pytest.mark.parametrize("text,expected", [
    ("1 + 2 * 3", "(1 + (2 * 3))"),
    ("1 - 2 - 3", "((1 - 2) - 3)"),
    ("8 / 4 / 2", "((8 / 4) / 2)"),
    ("1 << 2 + 3", "(1 << (2 + 3))"),
    ("1 < 2 == 3 > 4", "((1 < 2) == (3 > 4))"),
    ("1 & 2 == 2", "(1 & (2 == 2))"),
    ("1 | 2 ^ 3 & 4", "(1 | (2 ^ (3 & 4)))"),
    ("$a || $b && $c", "($a || ($b && $c))"),
    ("$a && $b | $c", "($a && ($b | $c))"),
    ("$a ? $b : $c ? $d : $e", "($a ? $b : ($c ? $d : $e))"),
    ("$a || $b ? 1 : 2", "(($a || $b) ? 1 : 2)"),
    ("-$a * 2", "((-$a) * 2)"),
    ("!$a == 1", "((!$a) == 1)"),
    ("-$x++", "(-($x++))"),
    ("*$p->next", "(*($p->next))"),
    ("&$s.f", "(&($s.f))"),
    ("(uint32)$a + 1", "(((uint32)$a) + 1)"),
    ("(uint8)-1", "((uint8)(-1))"),
    ("(int8[4])$a[1]", "((int8[4])($a[1]))"),
    ("$a->b.c[1]", "((($a->b).c)[1])"),
    ("$t.0.1", "(($t.0).1)"),
    ("++$x * 2", "((++$x) * 2)"),
    ("1 + 2 + 3 * 4 % 5", "((1 + 2) + ((3 * 4) % 5))"),
    ("(1 + 2) * 3", "((1 + 2) * 3)"),
])
def test_precedence(text, expected):
    assert shape(parse_expr(text)) == expected


def test_name_classification():
    e = parse_expr("f(pid, arg3, sarg1, __builtin_x, foo, true, kstack(perf))")
    assert isinstance(e, ast.Call) and e.name == "f"
    kinds = [type(a).__name__ for a in e.args]
    assert kinds == ["Builtin", "Builtin", "Builtin", "Builtin",
                     "Identifier", "Bool", "Call"]


def test_casts_versus_parentheses():
    assert isinstance(parse_expr("(pid_t)$x"), ast.Cast)
    assert isinstance(parse_expr("(foo *)$x"), ast.Cast)
    e = parse_expr("(x) - 1")
    assert isinstance(e, ast.Binop) and isinstance(e.left, ast.Identifier)
    e = parse_expr("(pid) * 2")
    assert isinstance(e, ast.Binop)


def test_type_specs():
    e = parse_expr("(struct task_struct **)$x")
    assert (e.type_spec.name, e.type_spec.pointer_depth,
            e.type_spec.array_size) == ("struct task_struct", 2, None)
    e = parse_expr("(string[16])$x")
    assert (e.type_spec.name, e.type_spec.array_size) == ("string", 16)


def test_map_keys_and_tuple_key():
    e = parse_expr('@m[1, "a"]')
    assert (e.name, len(e.keys), e.has_brackets) == ("m", 2, True)
    e = parse_expr("@m[(1, 2)]")
    assert len(e.keys) == 1 and isinstance(e.keys[0], ast.Tuple)
    e = parse_expr("@")
    assert (e.name, e.keys, e.has_brackets) == ("", [], False)


def test_statements():
    prog = parse(Source("BEGIN { @a = 1; @b[2] += 3; $c <<= 1; let $d: uint32 = 5; "
                        "return 1; break; continue; return }"))
    b = prog.probes[0].body
    assert [type(s).__name__ for s in b] == [
        "AssignMap", "AssignMap", "AssignVar", "VarDecl", "Jump", "Jump",
        "Jump", "Jump"]
    assert (b[1].op, b[2].op) == ("+=", "<<=")
    assert b[3].type_spec.name == "uint32" and b[3].value.value == 5
    assert [(j.kind, j.value is None) for j in b[4:]] == [
        ("return", False), ("break", True), ("continue", True),
        ("return", True)]


def test_else_if_is_a_nested_if():
    (stmt,) = parse("BEGIN { if (1) { } else if (2) { } else { x } }").probes[0].body
    assert len(stmt.orelse) == 1 and isinstance(stmt.orelse[0], ast.If)
    assert isinstance(stmt.orelse[0].orelse[0], ast.ExprStmt)


def test_macro_bodies():
    prog = parse("macro a(x) { x + 1 }\nmacro b($a, @m) { $a += 1; @m++; }")
    a, b = prog.macros
    assert isinstance(a.body, ast.BlockExpr) and a.params == ["x"]
    assert isinstance(b.body, list) and b.params == ["$a", "@m"]


def test_subprog():
    (f,) = parse("fn f($a: int64, $s: string): uint8 { return 1; }").subprogs
    assert [(n, t.name) for n, t in f.params] == [("a", "int64"), ("s", "string")]
    assert f.return_type.name == "uint8"


def test_top_level_order_is_free():
    prog = parse('BEGIN {} let @a = hash(1); fn f(): int64 { return 1; } '
                 'import "x"; kprobe:f {}')
    assert len(prog.probes) == 2 and len(prog.map_decls) == 1
    assert prog.imports[0].path == "x"


def test_spans():
    text = ("kprobe:vfs_read /pid == 1/ {\n"
            "  @m[comm] = count();\n"
            "  $x = (uint32)arg0 + 10;\n"
            "}\n")
    prog = parse(Source(text))
    probe = prog.probes[0]
    assert probe.span == Span(1, 1, 4, 2)
    assert probe.attach_points[0].span == Span(1, 1, 1, 16)
    assert probe.predicate.span == Span(1, 18, 1, 26)
    assign, assign2 = probe.body
    assert assign.span == Span(2, 3, 2, 21)
    assert assign.map.span == Span(2, 3, 2, 11)
    assert assign.map.keys[0].span == Span(2, 6, 2, 10)
    assert assign.value.span == Span(2, 14, 2, 21)
    binop = assign2.value
    assert binop.span == Span(3, 8, 3, 25)
    assert binop.left.span == Span(3, 8, 3, 20)
    assert binop.left.expr.span == Span(3, 16, 3, 20)
    assert binop.right.span == Span(3, 23, 3, 25)


def test_large_script_parses():
    # speed is measured in bench/ (compile time at 10/100/1000 probes), not here
    probe = ('kprobe:vfs_read_{i} /pid == {i} && comm == "x"/ {{\n'
             '  @reads[tid, comm] = count();\n'
             '  $x = (uint32)arg0 + {i} * 2;\n'
             '  if ($x > 10) {{ printf("%d %s\\n", $x, str(arg1)); }}\n'
             '}}\n')
    text = "".join(probe.format(i=i) for i in range(1000))
    prog = parse(Source(text))
    assert len(prog.probes) == 1000


def test_comment_after_predicate():
    text = ("tracepoint:syscalls:sys_enter_openat /pid == 1/ // why\n"
            "{ exit(); }\n")
    probe = parse(Source(text)).probes[0]
    assert isinstance(probe.predicate, ast.Binop)
    assert probe.predicate.span == Span(1, 39, 1, 47)
    assert isinstance(probe.body[0], ast.ExprStmt)


def test_discard_expression():
    prog = parse(Source("BEGIN { _ = has_key(@a, 1); }"))
    stmt = prog.probes[0].body[0]
    assert isinstance(stmt, ast.ExprStmt) and stmt.discard
    assert isinstance(stmt.expr, ast.Call) and stmt.expr.name == "has_key"
    assert stmt.span == Span(1, 9, 1, 27)


def _body(text):
    return parse(Source("BEGIN { " + text + " }")).probes[0].body


@pytest.mark.parametrize("bare,paren", [
    ("if $x > 1 { a } else if $y { b }", "if ($x > 1) { a } else if ($y) { b }"),
    ("while $i < 3 { $i++ }", "while ($i < 3) { $i++ }"),
    ("for $i : 0..3 { a }", "for ($i : 0..3) { a }"),
    ("for $kv : @m { a }", "for ($kv : @m) { a }"),
])
def test_conditions_without_parentheses_as_bpftrace_026(bare, paren):
    assert to_source(_body(bare)[0]) == to_source(_body(paren)[0])


def test_parentheses_of_a_condition_are_an_expression_of_its_own():
    (stmt,) = _body("if ($a) && ($b) { x }")
    assert shape(stmt.cond) == "($a && $b)"
    (stmt,) = _body("if ($a) { x }")
    assert stmt.cond.span == Span(1, 13, 1, 15)  # $a, as before


def test_empty_middle_operand_takes_the_condition():
    e = parse_expr("$a ?: $b ?: 3")
    assert shape(e) == "($a ? $a : ($b ? $b : 3))"
    assert e.then is e.cond


@pytest.mark.parametrize("text,expected", [
    ("$a ? $b ? 1 : 2 : 3", "($a ? ($b ? 1 : 2) : 3)"),
    ("$a ? 1 : $b ? 2 : $c ? 3 : 4", "($a ? 1 : ($b ? 2 : ($c ? 3 : 4)))"),
    ("($a ? 1 : 2) ? 3 : 4", "(($a ? 1 : 2) ? 3 : 4)"),
])
def test_nested_ternaries(text, expected):
    assert shape(parse_expr(text)) == expected


@pytest.mark.parametrize("text", ["for $i : 0..3 ) { }", "for ($i : 0..3 { }"])
def test_for_parentheses_come_in_pairs(text):
    with pytest.raises(SyntaxErr):
        _body(text)


@pytest.mark.parametrize("text,n,back", [
    ("(1,)", 1, "(1,)"), ("()", 0, "()"), ("(1, 2,)", 2, "(1, 2)"), ("(1)", None, "1"),
])
def test_tuples_of_one_and_none_and_a_trailing_comma(text, n, back):
    e = parse_expr(text)
    assert (len(e.elems) if isinstance(e, ast.Tuple) else None) == n
    assert to_source(e) == back
    assert to_source(parse_expr(to_source(e))) == back


@pytest.mark.parametrize("text,expected", [
    # an if used as a value is a ternary of its branches' block expressions
    ("$y = if $x { 1 } else { 2 }", "$y = $x ? { 1 } : { 2 };"),
    ("$y = if ($x) { let $a = 1; $a } else if $z { 2 } else { 3 }",
     "$y = $x ? { let $a = 1; $a } : $z ? { 2 } : { 3 };"),
    ("print(if $x { if $y { 1 } else { 2 } } else { 3 })",
     "print($x ? { $y ? { 1 } : { 2 } } : { 3 });"),
])
def test_if_used_as_a_value(text, expected):
    body = parse(f"BEGIN {{ {text} }}").probes[0].body
    assert len(body) == 1 and to_source(body[0]) == expected


@pytest.mark.parametrize("text", [
    "$y = if $x { 1 };",            # no else
    "$y = if $x { 1; } else { 2 };",  # a branch without a value
    "$y = if $x { 1 } else if $z { 2 };",
])
def test_if_as_a_value_needs_values_on_every_branch(text):
    with pytest.raises(SyntaxErr) as e:
        parse(f"BEGIN {{ {text} }}")
    assert e.value.message.startswith("an if used as a value needs an else")
    assert e.value.span.col == 14


def test_an_if_statement_keeps_its_statements():
    (s,) = parse("BEGIN { if $x { 1 } else { printf(\"a\") } }").probes[0].body
    assert isinstance(s, ast.If) and s.valued == (True, True)
    assert [type(t).__name__ for t in s.then + s.orelse] == ["ExprStmt", "ExprStmt"]


@pytest.mark.parametrize("text, name, raw", [
    ("__builtin_comm", "comm", True),
    ("__builtin_arg0", "arg0", True),
    ("comm()", "comm", False),
    ("cpu()", "cpu", False),
    ("__builtin_cpu()", "cpu", True),
])
def test_builtins_by_0_26s_names_and_as_calls(text, name, raw):
    e = parse_expr(text)
    assert isinstance(e, ast.Builtin) and (e.name, e.raw) == (name, raw)
    assert to_source(e) == ("__builtin_" if raw else "") + name


def test_builtins_that_are_also_functions_stay_calls():
    for text, name, args in (("pid()", "pid", 0), ("__builtin_kstack(perf)", "kstack", 1),
                             ("nsecs(boot)", "nsecs", 1)):
        e = parse_expr(text)
        assert isinstance(e, ast.Call) and (e.name, len(e.args)) == (name, args)


def test_container_of_is_the_kernels_macro():
    e = parse_expr("container_of($p->list.next, struct task_struct, se.group_node)")
    assert to_source(e) == ("(struct task_struct *)((uint64)$p->list.next - "
                            "offsetof(struct task_struct, se.group_node))")
    assert to_source(parse_expr("container_of(arg0, pair_t, b)")) == \
        "(pair_t *)((uint64)arg0 - offsetof(pair_t, b))"
    with pytest.raises(SyntaxErr) as e:
        parse_expr("container_of(arg0, 1, b)")
    assert e.value.message == "syntax error, unexpected integer, expecting struct"
