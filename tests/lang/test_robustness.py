"""Inputs that used to crash or hang the compiler give bpftrace-style errors.

Each compiles in-process through api.compile_script (BEGIN/END only: no
kernel needed) and must raise BpfscopeError with a useful message.
"""

import pytest

from bpfscope import api
from bpfscope.errors import BpfscopeError


def fails(src: str) -> str:
    with pytest.raises(BpfscopeError) as info:
        api.compile_script(src)
    return info.value.format()


FN_CHAIN = "".join(f"fn f{i}(): int64 {{ return f{i + 1}(); }}\n" for i in range(1000)) \
    + "fn f1000(): int64 { return 1; }\nbegin { print(f0()); }"
MACRO_CHAIN = "".join(f"macro m{i}() {{ m{i + 1}() }}\n" for i in range(999)) \
    + "macro m999() { 1 }\nbegin { print(m0()); }"

# Deep nesting stops at a limit, located where it is passed: the token
# of the parser, the call site of an expansion (first line of the error).
DEEP = [
    ("fn_chain", FN_CHAIN, "stdin:32:26-31: ERROR: Function calls nest too deeply "
     "(more than 32 levels). Call chain: f0 > f1 > f2 > ... > f31 > f32"),
    ("macro_chain", MACRO_CHAIN, "stdin:32:15-20: ERROR: Macro calls nest too deeply "
     "(more than 32 levels). Call chain: m0 > m1 > m2 > ... > m31 > m32"),
    # the 101st '{'
    ("blocks", "begin " + "{" * 5000 + "}" * 5000,
     "stdin:1:107-108: ERROR: blocks nest too deeply (more than 100 levels)"),
    ("parens", "begin { $x = " + "(" * 5000 + "1" + ")" * 5000 + "; }",
     "stdin:1:113-114: ERROR: expression nests too deeply (more than 100 levels)"),
    ("derefs", "begin { $x = " + "*" * 5000 + "0; }",
     "stdin:1:112-113: ERROR: expression nests too deeply (more than 100 levels)"),
    # the 99th '->' (the statement and print() are two levels)
    ("parent_chain", "begin { print(curtask" + "->parent" * 2000 + "->pid); }",
     "stdin:1:798-800: ERROR: expression nests too deeply (more than 100 levels)"),
    ("sum_chain", "begin { $x = 1" + " + 1" * 5000 + "; }",
     # the 99th '+'
     "stdin:1:408-409: ERROR: expression nests too deeply "
     "(more than 100 levels)"),
    ("else_if", "begin { if (pid) { }" + " else if (pid) { }" * 3000 + " }",
     # the condition of the 98th `else if` (its parentheses are an
     # expression level of their own since conditions need none)
     "stdin:1:1777-1780: ERROR: expression nests too deeply "
     "(more than 100 levels)"),
    ("pointer_type", "begin { $x = (int8" + "*" * 5000 + ")0; }",
     "stdin:1:119-120: ERROR: more than 100 levels of pointers"),
    # chains of 60 inside chains of 60: each is allowed, their sum is not
    ("chain_in_chain", "begin { $x = (1" + "+1" * 60 + ")" + "+1" * 60 + "; }",
     "stdin:1:57-58: ERROR: program nests too deeply (more than 100 levels)"),
    # macro bodies 40 levels deep, pasted into each other
    ("macro_bodies", "".join(f"macro m{i}(x) {{ m{i + 1}({'!' * 40}x) }}\n" for i in range(5))
     + "macro m5(x) { x }\nbegin { print(m0(1)); }",
     "stdin:2:15-60: ERROR: program nests too deeply (more than 100 levels)"),
    ("fn_bodies", "".join(f"fn f{i}(): int64 {{ return {'!' * 40}f{i + 1}(); }}\n"
                          for i in range(5)) + "fn f5(): int64 { return 1; }\n"
     "begin { print(f0()); }",
     "stdin:2:65-69: ERROR: program nests too deeply (more than 100 levels)"),
    ("c_struct", "struct a { " + "struct { " * 3000 + "int x; " + "} f; " * 3000 + "}; "
     "begin { print(1); }", "ERROR: structs nest too deeply (more than 100 levels) in "
     "C definition"),
]


@pytest.mark.parametrize("src,expect", [c[1:] for c in DEEP], ids=[c[0] for c in DEEP])
def test_deep_nesting_stops_at_a_located_limit(src, expect):
    assert fails(src).split("\n")[0].endswith(expect)


def _with_frames_in_use(n, fn):
    """fn() called with n more Python frames on the stack, as an embedding
    program or a test runner might have."""
    return fn() if n == 0 else _with_frames_in_use(n - 1, fn)


# Just inside each limit: the passes after the parser (macros, inlining,
# sema, codegen) must have room for it, not fall back on RecursionError.
AT_LIMIT = [
    "begin { $x = " + "- " * 98 + "1; print($x); }",
    "begin { $x = 1" + " + 1" * 98 + "; print($x); }",
    "begin { $x = " + "(uint32)" * 98 + "1; print($x); }",
    "begin { $x = 1; " + "if ($x) { " * 97 + "$x++;" + " }" * 97 + " }",
    "begin { $x = 1; if ($x == 0) { }" + " else if ($x == 2) { $x++; }" * 96 + " }",
    'begin { printf("%s", ' + "str(" * 97 + '"a"' + ")" * 97 + "); }",
    "begin { $x = " + "(1, " * 97 + "2" + ")" * 97 + "; print($x); }",
    "begin { print(" + "pid == 1 ? 1 : " * 97 + "0); }",
    "".join(f"macro m{i}() {{ m{i + 1}(); }}\n" for i in range(31))
    + "macro m31() { print(1); }\nbegin { m0(); }",
    "".join(f"fn f{i}($a: int64): int64 {{ return f{i + 1}($a); }}\n" for i in range(24))
    + "fn f24($a: int64): int64 { return $a; }\nbegin { print(f0(3)); }",
]


@pytest.mark.parametrize("src", AT_LIMIT, ids=range(len(AT_LIMIT)))
def test_nesting_just_inside_the_limits_compiles(src):
    _with_frames_in_use(300, lambda: api.compile_script(src))


CASES = [
    ("enum_64", "enum { ONE = 18446744073709551616 } begin { ONE }",
     "Enum value of ONE does not fit in 64 bits"),
    ("on_stack_limit", 'config = { on_stack_limit = f } begin { ((1,(2,""))) }',
     "stdin:1:12-30: ERROR: Invalid type for on_stack_limit. Type: string. "
     "Expected Type: integer"),
    ("lhist_dollar0", "BEGIN { @ = lhist(1, $0, 7, l) }", "lhist"),
    # U+DC80..U+DCFF stand for raw bytes (invalid UTF-8 read with
    # surrogateescape, tests/lang/test_raw_bytes.py); other surrogates are none
    ("surrogate", 'begin { ("\ud800") }', "invalid UTF-8 in string literal"),
    ("bad_conv", 'begin { printf("%q", 1); }', "Unknown format string token"),
    ("kstack_exp", "1llu { (kstack, 1e99223372036854775807); }", "ERROR"),
    ("huge_exp", "BEGIN { $x = 1e99999999999; }",
     "Exponent will overflow integer range: 99999999999"),
    ("exp_17", "BEGIN { $x = 1e17; }", "Exponent will overflow integer range: 17"),
    ("coeff", "BEGIN { $x = 12e4; }",
     "Coefficient part of scientific literal must be in range (0,9), got: 12"),
    ("unroll_14", "begin { $x = 0; " + "unroll(2) { " * 14 + "$x++;" + " }" * 14 + " }",
     "at most 1000"),
    ("big_string", 'begin { $s = "' + "a" * 1000000 + '"; }', "String literal too long"),
    ("printf_5000", 'begin { printf("' + "%d" * 5000 + '"' + ", 1" * 5000 + "); }",
     "too many arguments (5000), at most 128"),
]


@pytest.mark.parametrize("src,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_user_error(src, expect):
    assert expect in fails(src)


def test_percent_format_compiles_or_fails_cleanly():
    try:
        api.compile_script('begin { printf("' + "%" * 600 + '"); }')
    except BpfscopeError:
        pass


def test_limits_leave_ordinary_scripts_alone():
    api.compile_script("begin { $x = 0; unroll(10) { unroll(100) { $x++; } } print(9e16); }")
    api.compile_script('begin { printf("' + "%d " * 32 + '\\n"' + ", 1" * 32 + "); }")


def test_function_with_an_unused_parameter_compiles():
    # found by the fuzzer (seed 104): the parameter had no storage (KeyError)
    api.compile_script("fn add($a: int64, $b: int64): int64 { return $b; } "
                       "begin { print(add(1, 2)); }")
