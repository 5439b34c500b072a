"""The C of bcc's specifiers in bpftrace (toolcmds/cexpr.py)."""

from __future__ import annotations

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
