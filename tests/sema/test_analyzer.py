"""Semantic analysis without a kernel: a fake expander stands in for tracefs.

Covers the type of every expression kind and builtin, map type unification
across probes, scratch variable scoping, positional parameters, the config
block, aggregate argument checks, and each error the analyser raises (exact
message and span).
"""

import pytest

from bpfscope.errors import BpfscopeError, SemanticError, Source, Span
from bpfscope.lang import ast
from bpfscope.lang.userfuncs import inline_functions
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

TP_ARGS = [
    ArgField("common_pid", 4, 4, True, "int", "int"),
    ArgField("dfd", 16, 4, True, "int", "int"),
    ArgField("flags", 20, 2, False, "int", "unsigned short"),
    ArgField("filename", 24, 8, False, "pointer", "const char *", user=True),
    ArgField("comm", 32, 16, False, "char_array", "char[16]", 16),
    ArgField("name", 48, 4, False, "data_loc_string", "__data_loc char[]"),
    ArgField("vals", 52, 8, False, "array", "int[2]", 2),
    ArgField("big", 64, 8, False, "int", "u64"),
]


def expander(ap):
    p = ap.parts
    if p[0] in ("BEGIN", "END"):
        return [ExpandedProbe(p[0], p[0], (), None, ap.span)]
    if p[0] == "tracepoint":
        if "*" in p[2]:
            return [ExpandedProbe("tracepoint", f"tracepoint:{p[1]}:{n}", (), TP_ARGS, ap.span)
                    for n in ("one", "two")]
        return [ExpandedProbe("tracepoint", f"tracepoint:{p[1]}:{p[2]}", (), TP_ARGS, ap.span)]
    if p[0] == "interval":
        return [ExpandedProbe("interval", "interval:s:1", ("period", 10**9), None, ap.span)]
    raise AssertionError(p)


def analyze(src, params=(), config=None):
    return Analyzer(parse(Source(src)), expander, params, config).run()


def ty(expr, probe="BEGIN", params=(), pre=""):
    """The type sema gives ``expr`` written as a statement of its own."""
    an = analyze(f"{probe} {{ {pre} {expr}; }}", params)
    stmt = an.program.probes[0].body[-1]
    return stmt.expr.type


def error(src, params=(), config=None) -> SemanticError:
    with pytest.raises(SemanticError) as ei:
        analyze(src, params, config)
    return ei.value


def err(src, params=()):
    """(message, (line, col, end_col)) of the error ``src`` raises."""
    e = error(src, params)
    sp = e.span
    assert sp is not None and sp.line == sp.end_line
    return e.message, (sp.line, sp.col, sp.end_col)


S = T.StringType

# ------------------------------------------------------------------ expression types


@pytest.mark.parametrize("name, want", [
    ("pid", T.UINT32), ("tid", T.UINT32), ("uid", T.UINT32), ("gid", T.UINT32),
    ("cpu", T.UINT32), ("numaid", T.UINT32), ("rand", T.UINT32),
    ("nsecs", T.UINT64), ("elapsed", T.UINT64), ("cgroup", T.UINT64),
    ("jiffies", T.UINT64),
    ("comm", S(16)),
])
def test_builtin_types(name, want):
    assert ty(name) == want


def test_probe_builtin_is_sized_by_the_probe_name():
    assert ty("probe") == S(len("BEGIN") + 1)
    assert ty("probe", "tracepoint:syscalls:sys_enter_openat") == \
        S(len("tracepoint:syscalls:sys_enter_openat") + 1)


@pytest.mark.parametrize("expr, want", [
    ("0", T.INT64), ("1", T.INT64), ("0x7fffffffffffffff", T.INT64),
    ("0x8000000000000000", T.UINT64), ("0xffffffffffffffff", T.UINT64),
    ("true", T.BOOL), ("false", T.BOOL),
    ('""', S(1)), ('"a"', S(2)), ('"hello"', S(6)), ('"a\\nb"', S(4)),
    ('"\\u00e9"' if False else '"x\\x00y"', S(4)),
])
def test_literal_types(expr, want):
    assert ty(expr) == want


def test_string_literal_size_counts_utf8_bytes():
    assert ty('"é"') == S(3)


@pytest.mark.parametrize("expr, want", [
    ("1 + 2", T.INT64), ("1 - pid", T.UINT64), ("pid * 2", T.UINT64),
    ("pid + tid", T.UINT64), ("nsecs / 2", T.UINT64), ("-1 % 3", T.INT64),
    ("(int32)1 + (int8)2", T.INT64), ("(uint8)1 & 3", T.UINT64),
    ("1 << 3", T.INT64), ("nsecs >> 1", T.UINT64), ("1 ^ 2 | 4", T.INT64),
    ("-pid", T.INT64), ("-1", T.INT64), ("~pid", T.UINT64), ("~1", T.INT64),
    ("+pid", T.UINT64), ("!1", T.BOOL), ("!pid", T.BOOL),
])
def test_arithmetic_types_and_signedness(expr, want):
    assert ty(expr) == want


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "&&", "||"])
def test_comparisons_and_logic_are_bool(op):
    assert ty(f"1 {op} pid") == T.BOOL


def test_string_equality_is_bool():
    assert ty('comm == "bash"') == T.BOOL
    assert ty('"a" != "bcd"') == T.BOOL


@pytest.mark.parametrize("spec, want", [
    ("int8", T.IntType(8, True)), ("uint8", T.IntType(8, False)),
    ("int16", T.IntType(16, True)), ("uint16", T.IntType(16, False)),
    ("int32", T.INT32), ("uint32", T.UINT32), ("int64", T.INT64), ("uint64", T.UINT64),
    ("bool", T.BOOL),
])
def test_cast_types(spec, want):
    assert ty(f"({spec})1") == want


def test_cast_to_pointer():
    assert ty("(struct task_struct *)curtask") == T.PointerType(target="struct task_struct")


def test_tuple_types_and_access():
    assert ty('(1, "ab", pid)') == T.TupleType((T.INT64, S(3), T.UINT32))
    assert ty('$t.1', pre='$t = (1, "ab", pid);') == S(3)
    assert ty('$t.2', pre='$t = (1, "ab", pid);') == T.UINT32
    assert ty('(1, "ab").0') == T.INT64
    assert ty('(1, ("a", 2))') == T.TupleType((T.INT64, T.TupleType((S(2), T.INT64))))


def test_tuple_index_known_at_compile_time_as_bpftrace_026():
    assert ty('$t[1]', pre='$t = (1, "ab", pid);') == S(3)
    assert ty('(1, "hello")[1 - 1]') == T.INT64
    assert ty('$t[$1 + 1]', params=("1",), pre='$t = (1, "ab", pid);') == T.UINT32
    assert err('BEGIN { $t = (1, 2); $i = 0; $y = $t[$i]; }') == (
        "The index of a tuple must be an integer literal", (1, 38, 40))
    assert err('BEGIN { $t = (1, 2); $y = $t[1 + 1]; }')[0] == \
        "Invalid tuple index: 2. Found 2 elements in tuple."


def test_strings_index_as_char_arrays_as_bpftrace_026():
    assert ty('$s[0]', pre='$s = "abc";') == T.IntType(8, True)
    assert ty("comm[15]") == T.IntType(8, True)
    assert ty('$s[$i]', pre='$s = "abc"; $i = 1;') == T.IntType(8, True)
    assert err('BEGIN { $s = "abc"; $c = $s[4]; }') == (
        "Index 4 is out of bounds for a string of 4 bytes", (1, 29, 30))
    assert err('BEGIN { $c = comm["a"]; }')[0] == \
        "The index must be an integer, not 'string[2]'"


def test_delete_gives_a_bool():
    assert ty("delete(@m, 1)", pre="@m[1] = 2;") == T.BOOL
    assert ty("delete(@m[1])", pre="@m[1] = 2;") == T.BOOL


def test_a_tuple_key_and_the_same_values_as_keys_are_one_key_type():
    an = analyze('BEGIN { @m[(1, "a")] = 1; @m[2, "bc"] = 2; $t = (3, "d"); @m[$t] = 3; '
                 '$h = has_key(@m, (1, "a")); $d = delete(@m, $t); }')
    assert an.maps["@m"].key == T.TupleType((T.INT64, S(3)))


def test_a_record_key_stays_one_key():
    # unlike a tuple, a record is not the keys of a multi-key map
    rec = T.TupleType((T.INT64, T.INT64), ("a", "b"))
    an = analyze('BEGIN { @m[(a=1, b=2)] = 1; $r = (a=3, b=4); @m[$r] = 2; '
                 '@n[(a=1, b=2), 3] = 1; }')
    assert an.maps["@m"].key == T.TupleType((rec,))
    assert an.maps["@n"].key == T.TupleType((rec, T.INT64))


def test_tuple_size_and_offsets_follow_the_8_byte_rule():
    t = T.TupleType((T.INT64, S(3), T.UINT32, S(9)))
    assert t.offsets == [0, 8, 16, 24]
    assert t.size == 40


@pytest.mark.parametrize("expr, want", [
    ("1 ? 2 : 3", T.INT64),
    ("1 ? pid : nsecs", T.UINT64),
    ("1 ? (int8)1 : (int32)2", T.INT32),
    ("1 ? (uint8)1 : (int8)2", T.IntType(8, True)),
    ('1 ? "a" : "abcd"', S(5)),
    ('1 ? comm : "x"', S(16)),
    ('1 ? (1, "a") : (2, "abc")', T.TupleType((T.INT64, S(4)))),
])
def test_ternary_unification(expr, want):
    assert ty(expr) == want


def test_tracepoint_args_field_types():
    tp = "tracepoint:syscalls:sys_enter_openat"
    assert ty("args.dfd", tp) == T.INT32
    assert ty("args.common_pid", tp) == T.INT32
    assert ty("args.flags", tp) == T.IntType(16, False)
    assert ty("args.big", tp) == T.UINT64
    assert ty("args.filename", tp) == T.PointerType(target="const char", user=True)
    assert ty("args.comm", tp) == S(16)
    assert ty("args.name", tp) == S(1024)


def test_args_data_loc_string_follows_max_strlen():
    an = analyze("config = { max_strlen = 32 } tracepoint:a:b { args.name; }")
    assert an.program.probes[0].body[0].expr.type == S(32)


def test_str_types():
    tp = "tracepoint:a:b"
    assert ty("str(args.filename)", tp) == S(1024)
    assert ty("str(args.filename, 10)", tp) == S(11)
    assert ty("str(args.filename, 5000)", tp) == S(1024)
    assert ty("str(args.filename, 0)", tp) == S(1)
    assert ty("str(args.comm)", tp) == S(16)
    assert ty("str(args.comm, 4)", tp) == S(5)
    assert ty('str("abcdef", 2)') == S(3)
    assert ty("str(0)") == S(1024)


def test_void_calls():
    for call in ('printf("x")', "exit()", "time()", 'time("%H")', "print(1)"):
        assert ty(call) == T.VOID


def test_positional_parameters():
    assert ty("$1", params=["5"]) == T.INT64
    assert ty("$1", params=["0x10"]) == T.INT64
    assert ty("$1", params=["-3"]) == T.INT64
    assert ty("$1", params=["abc"]) == S(4)
    assert ty("$2", params=["abc"]) == T.INT64  # missing: reads as 0
    assert ty("$#", params=["a", "b"]) == T.INT64


def test_positional_parameter_in_lhist_and_hist_bits():
    an = analyze("BEGIN { @ = lhist(1, $1, $2, $3); @h = hist(1, $4); }",
                 params=["0", "100", "10", "3"])
    assert an.maps["@"].value == T.AggType("lhist", True, (0, 100, 10))
    assert an.maps["@h"].value == T.AggType("hist", True, (3,))


def test_variable_declarations():
    an = analyze("BEGIN { let $a: uint16 = 1; let $s: string; let $b; $b = 3; $c = $a; }")
    probe, exps = an.expanded[0]
    scope = an.analyze_probe(probe, exps[0])
    assert scope.vars == {"a": T.IntType(16, False), "s": S(1024), "b": T.INT64,
                          "c": T.IntType(16, False)}


# ------------------------------------------------------------------ maps


def test_map_value_and_key_types():
    an = analyze('BEGIN { @a = 1; @b[pid, comm] = "x"; @c[(1, "a")] = nsecs; @ = comm; }')
    assert an.maps["@a"].key == T.TupleType(())
    assert an.maps["@a"].value == T.INT64
    assert an.maps["@b"].key == T.TupleType((T.UINT32, S(16)))
    assert an.maps["@b"].value == S(2)
    # `@c[(1, "a")]` is `@c[1, "a"]` (bpftrace 0.26's language.md, Map Keys)
    assert an.maps["@c"].key == T.TupleType((T.INT64, S(2)))
    assert an.maps["@c"].value == T.UINT64
    assert an.maps["@"].value == S(16)


def test_map_read_in_END_before_the_probe_that_assigns_it():
    an = analyze('END { $v = @x; $s = @s; printf("%d %s", @x, @s); } '
                 'BEGIN { @x = 1; @s = "abc"; }')
    assert an.maps["@x"].value == T.INT64
    assert an.maps["@s"].value == S(4)
    end = an.program.probes[0]
    assert end.body[0].value.type == T.INT64
    assert end.body[1].value.type == S(4)


def test_map_string_value_widens_across_probes():
    an = analyze('END { printf("%s", @s); } BEGIN { @s = "abc"; } '
                 'interval:s:1 { @s = "abcdefgh"; }')
    assert an.maps["@s"].value == S(9)
    # the read in END sees the widened type
    assert an.program.probes[0].body[0].expr.args[1].type == S(9)


def test_map_key_string_widens():
    an = analyze('BEGIN { @m["a"] = 1; @m["abcdef"] = 2; }')
    assert an.maps["@m"].key == T.TupleType((S(7),))


def test_map_integer_values_unify_to_the_wider_type():
    an = analyze("BEGIN { @x = (uint8)1; } END { @x = (int32)2; }")
    assert an.maps["@x"].value == T.INT32
    an = analyze("BEGIN { @x = (int8)1; } END { @x = 5; }")
    assert an.maps["@x"].value == T.INT64
    an = analyze("BEGIN { @x = pid; } END { @x = (uint8)2; }")
    assert an.maps["@x"].value == T.UINT32


def test_map_tuple_value_widens():
    an = analyze('BEGIN { @t = (1, "a"); } END { @t = (2, "abc"); }')
    assert an.maps["@t"].value == T.TupleType((T.INT64, S(4)))


def test_compound_assignment_and_increment_make_int64_maps():
    an = analyze("BEGIN { @a += 5; @b++; --@c; @d -= pid; }")
    assert an.maps["@a"].value == T.INT64
    assert an.maps["@b"].value == T.INT64
    assert an.maps["@c"].value == T.INT64
    assert an.maps["@d"].value == T.UINT64


def test_wildcard_probe_expands_and_each_expansion_is_typed():
    an = analyze("tracepoint:syscalls:sys_enter_* { @[probe] = count(); }")
    assert [e.name for e in an.expanded[0][1]] == [
        "tracepoint:syscalls:one", "tracepoint:syscalls:two"]
    assert an.maps["@"].key == T.TupleType((S(len("tracepoint:syscalls:one") + 1),))


# ------------------------------------------------------------------ aggregates


@pytest.mark.parametrize("call, want", [
    ("count()", T.AggType("count", True)),
    ("sum(5)", T.AggType("sum", True)),
    ("sum(nsecs)", T.AggType("sum", False)),
    ("sum(pid)", T.AggType("sum", True)),  # uint32 fits in a signed sum
    ("avg(-1)", T.AggType("avg", True)),
    ("min(1)", T.AggType("min", True)),
    ("max(nsecs)", T.AggType("max", False)),
    ("stats(1)", T.AggType("stats", True)),
    ("hist(1)", T.AggType("hist", True, (0,))),
    ("hist(1, 0)", T.AggType("hist", True, (0,))),
    ("hist(1, 5)", T.AggType("hist", True, (5,))),
    ("lhist(1, 0, 100, 10)", T.AggType("lhist", True, (0, 100, 10))),
    ("lhist(1, -10, 10, 1)", T.AggType("lhist", True, (-10, 10, 1))),
])
def test_aggregate_types(call, want):
    an = analyze(f"BEGIN {{ @[1] = {call}; }}")
    assert an.maps["@"].value == want


def test_aggregate_value_sizes():
    assert [T.AggType(k).size for k in
            ("count", "sum", "min", "max", "avg", "stats", "hist", "lhist")] == \
        [8, 8, 16, 16, 16, 16, 8, 8]


def test_reading_count_sum_avg_min_max_maps_gives_int64():
    for agg in ("count()", "sum(1)", "avg(1)", "min(1)", "max(1)"):
        an = analyze(f"BEGIN {{ @x = {agg}; $v = @x; }}")
        assert an.program.probes[0].body[1].value.type == T.INT64
    an = analyze("BEGIN { @x = sum(nsecs); $v = @x; }")
    assert an.program.probes[0].body[1].value.type == T.UINT64


def test_same_aggregate_in_two_probes_unifies():
    an = analyze("BEGIN { @x = sum(1); } END { @x = sum(nsecs); }")
    assert an.maps["@x"].value == T.AggType("sum", False)


# ------------------------------------------------------------------ scoping


def test_scratch_variables_are_per_probe():
    msg, span = err("BEGIN { $x = 1; } END { $y = $x; }")
    assert msg == "Undefined or undeclared variable used: $x"
    assert span == (1, 30, 32)
    # the same name may have different types in different probes
    an = analyze('BEGIN { $x = 1; } END { $x = "a"; }')
    assert [an.analyze_probe(p, e[0]).vars for p, e in an.expanded] == [
        {"x": T.INT64}, {"x": S(2)}]


def test_variable_widening_within_a_probe():
    an = analyze('BEGIN { $s = "a"; $s = "abcdef"; $i = (int8)1; $i = 300; }')
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"s": S(7), "i": T.INT64}


def test_variable_assigned_only_in_a_branch_is_not_visible_after_it():
    # bpftrace 0.26: scratch variables live in their lexical block
    msg, span = err("BEGIN { if (pid) { $x = 1; } $y = $x; }")
    assert msg == "Undefined or undeclared variable used: $x"
    assert span == (1, 35, 37)


def test_assignment_in_a_branch_updates_the_outer_variable():
    an = analyze("BEGIN { $a = (int8)1; if (pid) { $a = 1000; } $b = $a; }")
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"a": T.INT64, "b": T.INT64}
    # also when the outer assignment comes later in the text
    an = analyze('BEGIN { if (pid) { $a = "x"; } $a = "abc"; }')
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"a": S(4)}


def test_sibling_blocks_have_variables_of_their_own():
    an = analyze('BEGIN { if (pid) { $v = 1; } else { $v = "str"; } '
                 '{ let $w = 2; } { $w = "x"; } }')
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {
        "v": T.INT64, "v#1": S(4), "w": T.INT64, "w#1": S(2)}


def test_let_shadowing_and_late_declaration_are_errors():
    msg, span = err("BEGIN { let $a; if (1) { let $a = 2; } }")
    assert msg == "Variable $a was already declared. Variable shadowing is not allowed."
    assert span == (1, 26, 36)
    msg, span = err("BEGIN { $a = 1; let $a = 2; }")
    assert msg == ("Variable declarations need to occur before variable usage or "
                   "assignment. Variable: $a")
    assert span == (1, 17, 27)
    # a declaration in a block that ended before is no shadowing
    analyze("BEGIN { if (1) { let $x = 1; } let $x = 2; }")


def test_for_loop_variables_are_the_loops_own():
    msg, span = err("BEGIN { $i = 1; for ($i : 0..3) { } }")
    assert msg == "Loop declaration shadows existing variable: $i"
    assert span == (1, 22, 24)
    # two loops, and a later variable of the same name, are three variables
    an = analyze('BEGIN { for ($i : 0..3) { } for ($i : 5..7) { } $i = "s"; }')
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"i": T.INT64, "i#1": T.INT64, "i#2": S(2)}


def test_block_expression_values_and_scope():
    an = analyze('BEGIN { $x = { let $y = 2; $y * 3 }; $s = { "abc" }; }')
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"x": T.INT64, "y": T.INT64, "s": S(4)}
    msg, span = err("BEGIN { $x = { let $y = 2; $y }; $z = $y; }")
    assert msg == "Undefined or undeclared variable used: $y"
    assert span == (1, 39, 41)


# ------------------------------------------------------------------ config


def test_config_block():
    an = analyze("config = { max_strlen = 16; max_map_keys = 10 } BEGIN { $s = str(0); }")
    assert an.max_strlen == 16
    assert an.config["max_map_keys"] == 10
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars["s"] == S(16)


def test_config_argument_overrides_the_block():
    an = analyze("config = { max_strlen = 16 } BEGIN { }", config={"max_strlen": 8})
    assert an.max_strlen == 8


def test_default_config():
    an = analyze("BEGIN { }")
    assert an.max_strlen == 1024  # bpftrace 0.26
    assert an.config["max_map_keys"] == 4096


def test_string_typespec_uses_max_strlen():
    an = analyze("config = { max_strlen = 20 } BEGIN { let $s: string; let $t: string[8]; }")
    p, e = an.expanded[0]
    assert an.analyze_probe(p, e[0]).vars == {"s": S(20), "t": S(8)}


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("src, msg, span", [
    ("BEGIN { foo(); }", "Unknown function: 'foo'", (1, 9, 14)),
    ("BEGIN { unwatch(1); }", "unwatch() is not supported yet", (1, 9, 19)),
    ("BEGIN { $x = foo; }", "Unknown identifier: 'foo'", (1, 14, 17)),
    ("BEGIN { exit(1, 2); }",
     "exit() requires between 0 and 1 arguments (2 provided)", (1, 9, 19)),
    ("BEGIN { @ = count(1); }", "count() requires 0 arguments (1 provided)", (1, 13, 21)),
    ("BEGIN { @ = sum(); }", "sum() requires 1 argument (0 provided)", (1, 13, 18)),
    ("BEGIN { @ = lhist(1, 0, 10); }", "lhist() requires 4 arguments (3 provided)",
     (1, 13, 28)),
    ("BEGIN { print(1, 2); }", "print() requires 1 argument (2 provided)", (1, 9, 20)),
    ("BEGIN { str(1, 2, 3); }",
     "str() requires between 1 and 2 arguments (3 provided)", (1, 9, 21)),
    ("BEGIN { printf(); }", "printf() expects a string literal as first argument",
     (1, 9, 17)),
    ('BEGIN { time(5); }', "time() expects a string literal", (1, 14, 15)),
    ('BEGIN { exit("a"); }',
     "exit() expects an integer for argument 1 ('string[2]' provided)", (1, 14, 17)),
    ('BEGIN { @ = sum("a"); }',
     "sum() expects an integer for argument 1 ('string[2]' provided)", (1, 17, 20)),
    ('BEGIN { @ = hist(comm); }',
     "hist() expects an integer for argument 1 ('string[16]' provided)", (1, 18, 22)),
    ('BEGIN { $x = 1 + "a"; }', "Invalid operands for '+': 'int64' and 'string[2]'",
     (1, 14, 21)),
    ('BEGIN { $x = "a" < "b"; }',
     "Invalid operands for '<': 'string[2]' and 'string[2]'", (1, 14, 23)),
    ('BEGIN { $x = (1, "a") == (1, "a"); }',
     "Invalid operands for '==': '(int64,string[2])' and '(int64,string[2])'", (1, 14, 34)),
    ('BEGIN { $x = -"a"; }', "Invalid operand for '-': 'string[2]'", (1, 14, 18)),
    ('BEGIN { $x = (uint8)"a"; }', "Cannot cast from 'string[2]' to 'uint8'", (1, 14, 24)),
    ('BEGIN { $x = 1 ? 1 : "a"; }',
     "Ternary operator branches have different types: 'int64' and 'string[2]'", (1, 14, 25)),
    ('BEGIN { if ("a") {} }', "Invalid condition type: string[2]", (1, 13, 16)),
    ('BEGIN /"a"/ { }', "Invalid type for predicate: string[2]", (1, 8, 11)),
    ('BEGIN { @x = 1; @x = "a"; }',
     "Type mismatch for @x: trying to assign value of type 'string[2]' when map already "
     "contains a value of type 'int64'", (1, 17, 19)),
    ('BEGIN { @x = count(); @x += 1; }',
     "Type mismatch for @x: trying to assign value of type 'int64' when map already "
     "contains a value of type 'count_t'", (1, 23, 25)),
    ('BEGIN { @x = count(); } END { @x = sum(1); }',
     "Type mismatch for @x: trying to assign value of type 'sum_t' when map already "
     "contains a value of type 'count_t'", (1, 31, 33)),
    ('BEGIN { @x = hist(1); } END { @x = hist(1, 2); }',
     "Type mismatch for @x: trying to assign value of type 'hist_t' when map already "
     "contains a value of type 'hist_t'", (1, 31, 33)),
    ('BEGIN { $x = 1; $x = "a"; }',
     "Type mismatch for $x: trying to assign value of type 'string[2]' when variable "
     "already contains a value of type 'int64'", (1, 17, 25)),
    ('BEGIN { @x[1] = 1; @x["a"] = 1; }',
     "Argument mismatch for @x: trying to access with arguments: 'string[2]' when map "
     "expects arguments: 'int64'", (1, 23, 26)),
    ('BEGIN { @x[1] = 1; @x[1, 2] = 1; }',
     "Argument mismatch for @x: trying to access with arguments: 'int64', 'int64' when "
     "map expects arguments: 'int64'", (1, 23, 27)),
    ('BEGIN { @x[1] = 1; $y = @x; }',
     "Argument mismatch for @x: trying to access with arguments: none when map expects "
     "arguments: 'int64'", (1, 25, 27)),
    ('BEGIN { @x[1] = 1; delete(@x, "a"); }',
     "Argument mismatch for @x: trying to access with arguments: 'string[2]' when map "
     "expects arguments: 'int64'", (1, 31, 34)),
    ("BEGIN { $y = $x; }", "Undefined or undeclared variable used: $x", (1, 14, 16)),
    ("BEGIN { $y = @x; }", "Undefined map: @x", (1, 14, 16)),
    ("BEGIN { count(); }", "count() must be assigned directly to a map", (1, 9, 16)),
    ("BEGIN { $x = count(); }", "count() must be assigned directly to a map", (1, 14, 21)),
    ("BEGIN { @ = sum(1) + 1; }", "sum() must be assigned directly to a map", (1, 13, 19)),
    ("BEGIN { @[count()] = 1; }", "count() must be assigned directly to a map", (1, 11, 18)),
    ("BEGIN { @x += count(); }", "count() cannot be used with '+='", (1, 15, 22)),
    ("tracepoint:a:b { $x = args.nope; }",
     "Can't find field 'nope' in args of tracepoint:a:b", (1, 23, 32)),
    ("BEGIN { $x = args.dfd; }", "The args builtin can not be used with 'BEGIN' probes",
     (1, 14, 18)),
    ("END { $x = args; }", "The args builtin can not be used with 'END' probes",
     (1, 12, 16)),
    ("interval:s:1 { $x = args.a; }",
     "The args builtin can not be used with 'interval' probes", (1, 21, 25)),
    ("BEGIN { @ = hist(1, 6); }", "hist: bits must be between 0 and 5", (1, 21, 22)),
    ("BEGIN { @ = hist(1, -1); }", "hist: bits must be between 0 and 5", (1, 21, 23)),
    ("BEGIN { @ = hist(1, $x); }", "hist: expected an integer literal", (1, 21, 23)),
    ("BEGIN { @ = lhist(1, 0, 10, 0); }", "lhist: step must be positive", (1, 29, 30)),
    ("BEGIN { @ = lhist(1, 10, 0, 1); }", "lhist: max must be greater than min", (1, 26, 27)),
    ("BEGIN { @ = lhist(1, 0, 100000, 1); }", "lhist: too many buckets, max is 1000",
     (1, 13, 35)),
    ("BEGIN { $a = 5; @ = lhist(1, $a, 10, 1); }", "lhist: expected an integer literal",
     (1, 30, 32)),
    ("BEGIN { @ = lhist(1, 0, pid, 1); }", "lhist: expected an integer literal",
     (1, 25, 28)),
    ('BEGIN { $x = (1, 2); $y = $x.5; }',
     "Invalid tuple index: 5. Found 2 elements in tuple.", (1, 27, 31)),
    ('BEGIN { $y = comm.x; }', "Can not access field 'x' on type 'string[16]'", (1, 14, 20)),
    ("BEGIN { unroll(0) {} }", "unroll minimum value is 1", (1, 9, 18)),
    ("BEGIN { unroll(101) {} }", "unroll maximum value is 100", (1, 9, 20)),
    ("BEGIN { unroll (-1) {} }", "unroll minimum value is 1", (1, 9, 20)),
    ('BEGIN { $x = printf("a"); }',
     "Value of type 'none' cannot be assigned to a variable", (1, 14, 25)),
    ('BEGIN { @x = printf("a"); }',
     "Value of type 'none' cannot be assigned to a map", (1, 14, 25)),
    ("BEGIN { $x = ctx; }", "The ctx builtin can not be used with 'BEGIN' probes", (1, 14, 17)),
    ('BEGIN { $s = "a"; $s++; }', "'++' needs an integer variable", (1, 19, 23)),
    ("BEGIN { @x = count(); @x++; }", "'++' needs an integer map: @x", (1, 23, 27)),
    ("BEGIN { @x = hist(1); $y = @x; }", "Reading a hist() map is not supported: @x",
     (1, 28, 30)),
    ("BEGIN { @x = stats(1); $y = @x; }", "Reading a stats() map is not supported: @x",
     (1, 29, 31)),
    ("BEGIN { @x[1] = 1; delete(@x[1], 1); }",
     "delete() with two arguments expects a map without a key", (1, 20, 36)),
    ("BEGIN { clear(1); }", "clear() expects a map argument", (1, 15, 16)),
    ("BEGIN { @[printf(\"a\")] = 1; }", "Invalid map key type: none", (1, 11, 22)),
    ('BEGIN { str(comm, "a"); }',
     "str() expects an integer for argument 2 ('string[2]' provided)", (1, 19, 22)),
    ('BEGIN { $x = "a"; $x += 1; }', "Invalid type for '+='", (1, 19, 26)),
    ('BEGIN { @x += "a"; }', "Invalid type for '+=': string[2]", (1, 15, 18)),
])
def test_errors(src, msg, span):
    assert err(src) == (msg, span)


def test_error_format_is_bpftrace_style():
    src = "BEGIN {\n  $x = 1 + \"a\";\n}"
    e = error(src)
    assert e.format(Source(src)) == (
        "stdin:2:8-15: ERROR: Invalid operands for '+': 'int64' and 'string[2]'\n"
        "  $x = 1 + \"a\";\n"
        "       ~~~~~~~")


def test_error_format_unknown_function_with_a_file_name():
    src = "BEGIN { printf(\"%d\\n\", 1); nope(1, 2); }"
    e = error(src)
    assert e.format(Source(src, "x.bt")) == (
        "x.bt:1:28-38: ERROR: Unknown function: 'nope'\n"
        + src + "\n"
        + " " * 27 + "~" * 10)


def test_error_format_args_in_begin():
    src = "BEGIN { @[args.x] = count(); }"
    e = error(src)
    assert e.format(Source(src)) == (
        "stdin:1:11-15: ERROR: The args builtin can not be used with 'BEGIN' probes\n"
        + src + "\n" + " " * 10 + "~~~~")


def test_error_is_a_bpftrace_error_with_no_source_attached():
    e = error("BEGIN { foo(); }")
    assert isinstance(e, BpfscopeError)
    assert e.source is None
    assert e.format() == "ERROR: Unknown function: 'foo'" or e.format().startswith("ERROR")


def test_error_in_a_later_probe_is_reported_even_when_its_maps_are_fine():
    msg, span = err("BEGIN { @x = 1; }\nEND { @x = \"a\"; }")
    assert span == (2, 7, 9)


def test_undefined_map_used_only_by_a_later_probe():
    # a read whose map is never assigned anywhere, in any probe
    msg, span = err("BEGIN { @y = 1; } END { $v = @x + @y; }")
    assert msg == "Undefined map: @x"
    assert span == (1, 30, 32)


@pytest.mark.parametrize("src", ["BEGIN { print(@x); }", "BEGIN { clear(@x); }",
                                 "BEGIN { zero(@x); }", "BEGIN { delete(@x); }"])
def test_map_only_printed_or_cleared_is_undefined(src):
    e = error(src)
    assert e.message == "Undefined map: @x"
    assert e.span == Span(1, src.index("@") + 1, 1, src.index("@") + 3)


# ------------------------------------------------------------------ declared map kinds


@pytest.mark.parametrize("src, message, span", [
    ('let @a = percpuhash(10); BEGIN { @a[1] = "str"; }',
     "@a is a percpuhash: its per-CPU values must be integers or aggregations, "
     "not 'string[4]'", (1, 1, 25)),
    ('let @a = percpulruhash(10); BEGIN { @a[1] = (1, 2); }',
     "@a is a percpulruhash: its per-CPU values must be integers or aggregations, "
     "not '(int64,int64)'", (1, 1, 28)),
    ('let @a = percpuarray(10); BEGIN { @a["k"] = 1; }',
     "@a is a percpuarray: its key must be one integer index below 10, not (string[2])",
     (1, 1, 26)),
    ('let @a = percpuarray(10); BEGIN { @a[1, 2] = 1; }',
     "@a is a percpuarray: its key must be one integer index below 10, not (int64, int64)",
     (1, 1, 26)),
    ("let @a = percpuarray(10); BEGIN { @a[1] = hist(3); }",
     "@a is a percpuarray: it can not hold hist() (its buckets need a hash map)", (1, 1, 26)),
    ("let @a = percpuarray(10); BEGIN { @a[1] = 1; delete(@a, 1); }",
     "delete() can not remove elements of a percpuarray map (@a); use zero() or clear()",
     (1, 46, 59)),
    ("let @a = array(10); BEGIN { @a[1] = 1; }",
     "Unknown map kind 'array'; one of: hash, lruhash, percpuhash, percpulruhash, "
     "percpuarray", (1, 1, 20)),
    ("let @a = percpuhash(0); BEGIN { @a[1] = 1; }",
     "percpuhash(): the number of entries must be positive", (1, 21, 22)),
])
def test_declared_map_kind_misuse(src, message, span):
    assert err(src) == (message, span)


def test_declared_map_kinds_accept_integers_and_aggregations():
    an = analyze("let @a = percpuhash(4); let @b = percpulruhash(4); let @c = percpuarray(4); "
                 "let @d = percpuarray(1); "
                 "BEGIN { @a[comm] = 1; @b[1, 2] = count(); @c[cpu] = sum(5); @d = max(2); }")
    assert {n: (m.decl_kind, m.decl_entries) for n, m in an.maps.items()} == {
        "@a": ("percpuhash", 4), "@b": ("percpulruhash", 4), "@c": ("percpuarray", 4),
        "@d": ("percpuarray", 1)}


# ------------------------------------------------------------------ user functions


def analyze_fns(src):
    return Analyzer(inline_functions(parse(Source(src))), expander).run()


def test_inlined_function_types():
    an = analyze_fns('fn f($a: uint8, $s: string[8]): string[8] { return $s; } '
                     'fn g(): void { } BEGIN { $x = f(300, "abc"); g(); }')
    p, e = an.expanded[0]
    call = p.body[0].value
    assert call.type == S(8)
    assert an.analyze_probe(p, e[0]).vars == {"x": S(8), "a'fn f": T.IntType(8, False), "s'fn f": S(8)}
    assert p.body[1].expr.type == T.VOID


@pytest.mark.parametrize("src, message, span", [
    ('fn f($a: int64): int64 { return $a; } BEGIN { $x = f("s"); }',
     "Function f: $a is a 'int64', not 'string[2]'", (1, 54, 57)),
    ('fn f($s: string): int64 { return 1; } BEGIN { $x = f(1); }',
     "Function f: $s is a 'string[1024]', not 'int64'", (1, 54, 55)),
    ('fn f($a: int64): int64 { return "s"; } BEGIN { $x = f(1); }',
     "Function f returns 'int64', not 'string[2]'", (1, 33, 36)),
    ("fn f($a: int64): void { return 1; } BEGIN { f(1); }",
     "Function f returns nothing: 'return' can not have a value", (1, 32, 33)),
    ("fn f($a: int64): int64 { return; } BEGIN { $x = f(1); }",
     "Function f must return a 'int64'", (1, 26, 32)),
    ("fn f(): int64 { return $y; } BEGIN { $y = 1; $x = f(); }",
     "Undefined or undeclared variable used: $y", (1, 24, 26)),
    ("fn f(): void { } BEGIN { $x = f(); }",
     "Value of type 'none' cannot be assigned to a variable", (1, 31, 34)),
])
def test_inlined_function_misuse(src, message, span):
    with pytest.raises(SemanticError) as ei:
        analyze_fns(src)
    sp = ei.value.span
    assert (ei.value.message, (sp.line, sp.col, sp.end_col)) == (message, span)


# ------------------------------------------------------------------ for ($kv : @map)

def loop_var_type(src):
    an = analyze(src)
    loop = next(n for n in ast.walk(an.program.probes) if isinstance(n, ast.ForMap))
    return loop.var.type


def test_for_map_pair_types():
    assert loop_var_type("BEGIN { @m[1] = 2; for ($kv : @m) { } }") == \
        T.TupleType((T.INT64, T.INT64))
    assert loop_var_type('BEGIN { @m[1, "ab"] = "c"; for ($kv : @m) { } }') == \
        T.TupleType((T.TupleType((T.INT64, S(3))), S(2)))
    # aggregations read as their merged integer
    assert loop_var_type("BEGIN { @m[comm] = count(); for ($kv : @m) { } }") == \
        T.TupleType((S(16), T.INT64))
    # the map may get its type later in the script
    assert loop_var_type("BEGIN { for ($kv : @m) { } } END { @m[1] = 2; }") == \
        T.TupleType((T.INT64, T.INT64))


def test_for_map_var_is_scoped_to_the_body():
    an = analyze("BEGIN { @m[1] = 2; for ($kv : @m) { $x = $kv.1; } "
                 "for ($kv : @m) { $y = $kv.0; } $kv = 3; }")
    loops = [n for n in ast.walk(an.program.probes) if isinstance(n, ast.ForMap)]
    after = an.program.probes[0].body[-1].var
    keys = {loops[0].var.key, loops[1].var.key, after.key}
    assert len(keys) == 3
    assert an._scope.vars[loops[0].var.key] == T.TupleType((T.INT64, T.INT64))
    assert an._scope.vars[after.key] == T.INT64


@pytest.mark.parametrize("src, msg, span", [
    ("BEGIN { @h[1] = lhist(1, 0, 10, 1); for ($x : @h) { } }",
     "Loop expression does not support type: lhist_t", (1, 47, 49)),
    ("BEGIN { @h[1] = stats(1); for ($x : @h) { } }",
     "Loop expression does not support type: stats_t", (1, 37, 39)),
    ("BEGIN { @a = 1; for ($x : @a) { } }",
     "@a has no explicit keys (scalar map), and cannot be used for iteration", (1, 27, 29)),
    ("BEGIN { for ($x : @a) { } }", "Undefined map: @a", (1, 19, 21)),
    ("BEGIN { @a[1] = 1; for ($x : @a) { if (1) { return; } } }",
     "'return' statement is not allowed in a for-loop", (1, 45, 51)),
    ("BEGIN { $x = 1; @a[1] = 1; for ($x : @a) { } }",
     "Loop declaration shadows existing variable: $x", (1, 33, 35)),
    ("tracepoint:t:p { @a[1] = 1; for ($x : @a) { @b = args.dfd; } }",
     "'args' builtin is not allowed in a for-loop", (1, 50, 54)),
    ("BEGIN { @a[1] = 1; for ($x : @a) { @b = retval; } }",
     "'retval' builtin is not allowed in a for-loop", (1, 41, 47)),
    ("BEGIN { @a[1] = 1; for ($x : @a) { } print($x); }",
     "Undefined or undeclared variable used: $x", (1, 44, 46)),
])
def test_for_map_errors(src, msg, span):
    assert err(src) == (msg, span)


def test_read_in_a_loop_sees_the_type_a_later_assignment_widens_to():
    """The loop body runs again after '$s = "changed"': the read before
    it (printf's argument) must carry 8 bytes, not the 6 of "hello"."""
    for loop in ("while ($i < 2) { $i++;", "@m[1] = 1; for ($kv : @m) {"):
        an = analyze(f'BEGIN {{ $s = "hello"; $i = 0; {loop} printf("%s", $s); '
                     '$s = "changed"; } }')
        call = next(n for n in ast.walk(an.program.probes)
                    if isinstance(n, ast.Call) and n.name == "printf")
        assert call.args[1].type == S(8)


@pytest.mark.parametrize("src, params, parts", [
    ("tracepoint:$1:$2 { }", ("syscalls", "sys_enter_read"),
     ["tracepoint", "syscalls", "sys_enter_read"]),
    ("BEG$1 { }", ("IN",), ["BEGIN"]),
    ("$1 { }", ("tracepoint:a:b",), ["tracepoint", "a", "b"]),
    ("tracepoint:a:b$3 { }", ("x",), ["tracepoint", "a", "b"]),  # missing: empty
])
def test_positional_parameters_in_attach_points(src, params, parts):
    seen = []

    def spy(ap):
        seen.append(list(ap.parts))
        return expander(ap)
    Analyzer(parse(Source(src)), spy, params).run()
    assert seen == [parts]


@pytest.mark.parametrize("pre, want", [
    ("let $x;", T.INT64),                          # never assigned: an integer 0
    ('let $x; $y = $x; $x = "abc";', S(4)),        # the type a later assignment gives
    ("let $x: uint16;", T.IntType(16, False)),
])
def test_a_declared_variable_reads_before_its_assignment(pre, want):
    assert ty("$x", pre=pre) == want


def test_enum_values_keep_their_enum_until_arithmetic():
    an = analyze("enum E { ONE = 1, TWO }; enum { LONE = 7 }; "
                 "BEGIN { $a = ONE; @m[TWO] = LONE; $b = ONE + 1; $c = (enum E)$b; "
                 "$d = 1 ? ONE : TWO; $e = (ONE, 2); }")
    e = T.EnumType(64, True, "E", (("ONE", 1), ("TWO", 2)))
    body = an.program.probes[0].body
    types = [s.var.type for s in body if isinstance(s, ast.AssignVar)]
    assert types == [e, T.INT64, T.EnumType(32, True, "E", e.values), e,
                     T.TupleType((e, T.INT64))]
    assert an.maps["@m"].key == T.TupleType((e,))
    assert an.maps["@m"].value == T.EnumType(64, True, "", (("LONE", 7),))
    assert str(e) == "enum E" and str(an.maps["@m"].value) == "int64"


def test_an_enum_prints_as_its_enumerator_or_its_number():
    e = T.EnumType(32, True, "E", (("NEG", -1), ("ONE", 1)))
    assert [e.show(v) for v in (1, 0xFFFFFFFF, (1 << 64) - 1, 2)] == ["ONE", "NEG", "NEG", None]


def test_records_with_the_same_fields_in_another_order_are_one_type():
    ab = T.TupleType((T.INT64, S(3)), ("a", "b"))
    ba = T.TupleType((S(5), T.INT64), ("b", "a"))
    assert T.unify(ab, ba) == T.TupleType((T.INT64, S(5)), ("a", "b"))
    assert T.unify(ab, T.TupleType((T.INT64, S(3)), ("a", "c"))) is None
    an = analyze('BEGIN { $r = (a=1, b="xy"); $r = (b="long", a=2); @m = (x=1, y=2); '
                 '@m = (y=3, x=4); }')
    assert an.program.probes[0].body[1].var.type == T.TupleType((T.INT64, S(5)), ("a", "b"))
    assert an.maps["@m"].value == T.TupleType((T.INT64, T.INT64), ("x", "y"))


@pytest.mark.parametrize("expr, want", [
    ("&curtask->pid", T.PointerType(target="int32")),
    ("&curtask->comm", T.PointerType(target="int8")),
    ('&"ab"', T.PointerType(target="int8")),
    ("&(1, 2)", T.PointerType(target="void")),
    ("&*curtask", T.PointerType(target="struct task_struct")),
    ("&$t.1", T.PointerType(target="int8")),
    ("&$t[0]", T.PointerType(target="int64")),
])
def test_address_of_types(expr, want):
    t = ty(expr, pre='$t = (1, "ab");')
    assert isinstance(t, T.PointerType) and t.target == want.target and not t.user


def test_address_of_a_string_variable_and_of_what_a_user_pointer_points_to():
    an = analyze('tracepoint:a:b { $s = "abc"; $p = &$s; $q = &args.filename[1]; }')
    body = an.program.probes[0].body
    assert body[1].var.type == T.PointerType(target="int8")
    assert body[2].var.type.user and body[2].var.type.target == "int8"


@pytest.mark.parametrize("src, message", [
    ("BEGIN { $x = 1; $p = &$x; }",
     "The address of the variable $x is not supported yet: bpfscope keeps integers in registers"),
    ("BEGIN { @x = 1; $p = &@x; }", "The address of a map is not supported yet"),
    ("struct B { int a:3; } BEGIN { $p = &((struct B *)0)->a; }",
     "Can not take the address of the bitfield 'a'"),
])
def test_address_of_what_is_not_in_memory(src, message):
    assert error(src).message == message


def test_bitfields_read_unsigned_as_in_bpftrace():
    an = analyze("struct B { short a:4; int e:9; unsigned f:3; } "
                 "BEGIN { $p = (struct B *)0; $a = $p->a; $e = $p->e; $f = $p->f; }")
    types = [s.var.type for s in an.program.probes[0].body[1:]]
    assert types == [T.IntType(16, False), T.IntType(32, False), T.IntType(32, False)]


def test_a_declared_map_never_used_is_a_warning_and_no_map():
    from bpfscope.errors import WarningLog, collecting
    with collecting(WarningLog()) as log:
        an = analyze("let @a = percpuhash(1); BEGIN { @b = 1; }")
    assert [w.message for w in log.items] == ["Unused map: @a"]
    assert log.items[0].span.col == 1
    assert "@a" not in an.maps and "@b" in an.maps


def test_a_declared_map_only_printed_is_still_undefined():
    e = error("let @a = hash(1); BEGIN { print(@a); }")
    assert e.message == "Undefined map: @a"
