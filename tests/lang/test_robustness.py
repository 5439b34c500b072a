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

CASES = [
    ("fn_chain", FN_CHAIN, "too deeply"),
    ("macro_chain", MACRO_CHAIN, "too deeply"),
    ("blocks", "begin " + "{" * 5000 + "}" * 5000, "too deeply"),
    ("parens", "begin { $x = " + "(" * 5000 + "1" + ")" * 5000 + "; }", "too deeply"),
    ("derefs", "begin { $x = " + "*" * 5000 + "0; }", "too deeply"),
    ("parent_chain", "begin { print(curtask" + "->parent" * 2000 + "->pid); }", "too deeply"),
    ("enum_64", "enum { ONE = 18446744073709551616 } begin { ONE }",
     "Enum value of ONE does not fit in 64 bits"),
    ("on_stack_limit", 'config = { on_stack_limit = f } begin { ((1,(2,""))) }',
     "on_stack_limit"),
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
