"""The C of bcc's specifiers in bpftrace (toolcmds/cexpr.py)."""

from __future__ import annotations

import re

import pytest

from bpfscope import api
from bpfscope.toolcmds import cexpr
from bpfscope.toolcmds.cexpr import SpecError


@pytest.mark.parametrize("c, bt", [
    ("int", "int32"), ("unsigned", "uint32"), ("unsigned long long", "uint64"),
    ("const char *", "int8 *"), ("char**", "int8 **"), ("size_t", "uint64"),
    ("struct file *", "struct file *"), ("void *", "uint64"), ("u16", "uint16"),
    ("enum foo", "int32"), ("pid_t", "int32"), ("bool", "uint8"), ("foo_t", None),
    ("struct", None), ("", None),
])
def test_types(c, bt):
    assert cexpr.btype(c) == bt


@pytest.mark.parametrize("c, bpftrace", [
    ("arg1 > 20000", "arg0 > 20000"),
    ("a - -b", "a - - b"),                         # not a decrement
    ("f->x.y[2] + g(1, 2)", "f->x.y[2] + g(1, 2)"),
    ("(unsigned long)arg6 & 0xff", "(uint64) arg5 & 0xff"),
    ("(x) * 2", "(x) * 2"),                        # parens of a value, not a cast
    ("$uid == 0 && $cpu", "uid == 0 && cpu"),
    ('STRCMP("ab", arg1)', '(str(arg0, 4) == "ab")'),
    ("retval < 0", "((int32)retval) < 0"),
    ("arg2@user", "uptr(arg1)"),
    ("'a' == 97UL", "'a' == 97"),
])
def test_expressions(c, bpftrace):
    assert cexpr.rewrite(c, c, 0, retval="((int32)retval)") == bpftrace


def test_expressions_parse_as_bpftrace():
    expr = cexpr.rewrite('(char)arg1 != 0 || STRCMP("x", arg2) || $PID > 3', "s", 0)
    api.check_syntax(f"BEGIN {{ if ({expr}) {{ }} }}")


def test_signature_and_its_errors():
    assert cexpr.signature("struct file *f, const char* buf, size_t n", "s", 0) == \
        [("f", "struct file *"), ("buf", "int8 *"), ("n", "uint64")]
    assert cexpr.signature("", "s", 0) == []
    spec = "p::f(int a, b)"
    with pytest.raises(SpecError) as e:
        cexpr.signature("int a, b", spec, 5)
    assert e.value.message == "parameter 'b' needs a type and a name"
    assert str(e.value).splitlines()[2] == "    " + " " * 12 + "~"


def test_split_top_keeps_parens_and_strings():
    assert cexpr.split_top('a, f(b, c), "d,e", \'x\'') == \
        [("a", 0), (" f(b, c)", 2), (' "d,e"', 11), (" 'x'", 18)]
    assert cexpr.split_top("p:c:f(a:b):u64", 0, ":") == \
        [("p", 0), ("c", 2), ("f(a:b)", 4), ("u64", 11)]


@pytest.mark.parametrize("lit, data", [
    ('"{0x7f, \'E\', 0}"', b"\x7fE\x00"),
    ('"{1,2,255}"', b"\x01\x02\xff"),
    ('"{\'\\n\'}"', b"\n"),
    ('"ab\\0c\\x41"', b"ab\x00cA"),                  # escapes: a NUL inside
])
def test_binary_strcmp_needles(lit, data):
    assert cexpr.needle(lit, "s", 0) == data


def test_binary_strcmp_compares_each_byte():
    expr = cexpr.rewrite('STRCMP("{1, 0, 2}", arg2@user)', "s", 0, bin_cmp=True)
    assert expr == ("(*(uint8 *)((uptr(arg1)) + 0) == 1 && *(uint8 *)((uptr(arg1)) + 1) == 0"
                    " && *(uint8 *)((uptr(arg1)) + 2) == 2)")
    api.check_syntax(f"BEGIN {{ if ({expr}) {{ }} }}")


@pytest.mark.parametrize("lit, why", [('"{256}"', "'256' is not a byte"),
                                      ('"{x}"', "'x' is not a byte"),
                                      ('"{1, 2"', "a byte list is"),
                                      ('""', "compares 1 to 64 bytes"),
                                      ('"' + "a" * 65 + '"', "compares 1 to 64 bytes")])
def test_binary_strcmp_bad_needles(lit, why):
    spec = f"STRCMP({lit}, arg1)"
    with pytest.raises(SpecError, match=re.escape(why)):
        cexpr.rewrite(spec, spec, 0, bin_cmp=True)
