"""getopt(): the command line's named parameters become literals of the
default's type before typing; misuse of getopt() is a located error, an
unknown or badly typed parameter an error of its own."""

import pytest

from bpfscope.errors import BpfscopeError, SemanticError, Source
from bpfscope.lang import ast
from bpfscope.lang.parser import parse
from bpfscope.sema.named_params import ProgramHelp, resolve_getopt, split_named


def resolved(text, named):
    prog = parse(Source(text))
    resolve_getopt(prog, named)
    return prog.probes[0].body[0].expr.args[0]


def test_split_named_keeps_positional_order():
    assert split_named(["p1", "--aa=20", "--bb", "p2", "-x", "--c=a=b", "--"]) == (
        ["p1", "p2", "-x", "--"], {"aa": "20", "bb": None, "c": "a=b"})


@pytest.mark.parametrize("call, named, cls, value", [
    ('getopt("n", 1)', {}, ast.Integer, 1),
    ('getopt("n", 1)', {"n": "20"}, ast.Integer, 20),
    ('getopt("n", -3)', {"n": "0x10"}, ast.Integer, 16),
    ('getopt("n", -3)', {}, ast.Integer, -3),
    ('getopt("n", 1)', {"n": "-7"}, ast.Integer, -7),
    ('getopt("b")', {}, ast.Bool, False),
    ('getopt("b")', {"b": None}, ast.Bool, True),
    ('getopt("b", true)', {"b": "false"}, ast.Bool, False),
    ('getopt("b", false)', {"b": "1"}, ast.Bool, True),
    ('getopt("s", "x")', {}, ast.String, "x"),
    ('getopt("s", "x")', {"s": "hello world"}, ast.String, "hello world"),
    ('getopt("s", "x")', {"s": ""}, ast.String, ""),
])
def test_value_by_the_defaults_type(call, named, cls, value):
    lit = resolved(f"BEGIN {{ print({call}); }}", named)
    assert type(lit) is cls and lit.value == value
    assert lit.span.col == 15


def located(text):
    with pytest.raises(SemanticError) as ei:
        resolved(text, {})
    sp = ei.value.span
    return ei.value.message, (sp.line, sp.col, sp.end_col)


def test_getopt_misuse_is_located():
    assert located('BEGIN { print(getopt(1)); }') == (
        "First argument to 'getopt' must be a string literal.", (1, 22, 23))
    assert located('BEGIN { $x = 1; print(getopt("a", $x)); }') == (
        "Second argument to 'getopt' must be a string literal, integer literal, or a "
        "boolean literal.", (1, 35, 37))
    assert located('BEGIN { print(getopt("a", 1) + getopt("a", 2)); }') == (
        "Command line option 'a' needs to have the same default value in all places it "
        "is used. Previous default value: 1", (1, 32, 46))
    assert located('BEGIN { print(getopt("a") + getopt("a", 0)); }') == (
        "Command line option 'a' needs to have the same default value in all places it "
        "is used. Previous default value: false", (1, 29, 43))
    assert located('BEGIN { print(getopt()); }') == (
        "getopt() requires 1 to 3 arguments (0 provided)", (1, 15, 23))
    assert located('BEGIN { print(getopt("a", 1, 2)); }') == (
        "Third argument to 'getopt' (its description) must be a string literal.",
        (1, 30, 31))


@pytest.mark.parametrize("call, named, message", [
    ('getopt("n", 1)', {"n": "x"}, "Program option --n expects an integer, got 'x'"),
    ('getopt("n", 1)', {"n": None}, "Program option --n needs a value: --n=VALUE"),
    ('getopt("s", "")', {"s": None}, "Program option --s needs a value: --s=VALUE"),
    ('getopt("b")', {"b": "maybe"},
     "Program option --b is a boolean: expected true or false, got 'maybe'"),
    ('getopt("b")', {"c": "1"}, "unexpected program command line options: --c"),
    ('1', {"c": "1", "d": None, "help": None},
     "unexpected program command line options: --c, --d"),
])
def test_bad_command_line_values(call, named, message):
    with pytest.raises(BpfscopeError) as ei:
        resolved(f"BEGIN {{ print({call}); }}", named)
    assert ei.value.message == message and ei.value.span is None


@pytest.mark.parametrize("call, hint", [
    ('getopt("b") + getopt("n", 2)', "expected program options: --b, --n"),
    ('1', "no custom program options defined."),
])
def test_unknown_parameters_hint_at_those_the_script_takes(call, hint):
    # bpftrace 0.26's hint after the error
    with pytest.raises(BpfscopeError) as ei:
        resolved(f"BEGIN {{ print({call}); }}", {"zz": "1"})
    assert ei.value.notes == [hint]


def test_help_lists_the_parameters_with_descriptions():
    with pytest.raises(ProgramHelp) as ei:
        resolved('BEGIN { print((getopt("aa", 10, "Description of aa"), getopt("bb", "x"), '
                 'getopt("cc"), getopt("aa", 10))); }', {"help": None})
    assert ei.value.message == (
        "HINT: expected program options: --aa, --bb, --cc\n"
        "    --aa=NUM     Description of aa (default: 10)\n"
        "    --bb=STRING  (default: x)\n"
        "    --cc         (default: false)\n")


def test_a_description_changes_nothing_else():
    lit = resolved('BEGIN { print(getopt("aa", 10, "AA")); }', {"aa": "22"})
    assert type(lit) is ast.Integer and lit.value == 22
