"""The C preamble reader: struct/union/enum definitions, typedefs and
#define constants, as declarations (layout is sema's job)."""

import pytest

from bpfscope.errors import SyntaxErr
from bpfscope.lang.cdecl import (CDefine, CEnum, CMember, CStruct, CTypedef,
                                 parse_definitions)


def test_struct_members_pointers_arrays_bitfields():
    (st,) = parse_definitions("struct Foo { int a; unsigned long b[2][3]; "
                              "struct Foo *next, **pp; unsigned int f:3, g:5; "
                              "const char *s; int (*fn)(int, char *); };")
    assert st == CStruct("struct", "Foo", [
        CMember("a", "int"), CMember("b", "unsigned long", 0, [2, 3]),
        CMember("next", "struct Foo", 1), CMember("pp", "struct Foo", 2),
        CMember("f", "unsigned int", bits=3), CMember("g", "unsigned int", bits=5),
        CMember("s", "char", 1), CMember("fn", "void", 1)])


def test_nested_and_anonymous_members():
    (st,) = parse_definitions("union U { struct { short x; } in; union { int i; char c; }; }")
    assert st.kind == "union" and st.name == "U"
    inner, anon = st.members
    assert inner.name == "in" and inner.base == CStruct("struct", "", [CMember("x", "short")])
    assert anon.name == "" and [m.name for m in anon.base.members] == ["i", "c"]


def test_enum_values_count_on_from_the_last_given():
    assert parse_definitions("enum E { A, B = 5, C, D = -1 };") == [
        CEnum("E", [("A", 0), ("B", 5), ("C", 6), ("D", -1)])]


def test_typedef_and_defines():
    assert parse_definitions("typedef unsigned long long u64x;") == [
        CTypedef("u64x", CMember("u64x", "unsigned long long"))]
    assert parse_definitions("#define N 0x10") == [CDefine("N", 16)]
    assert parse_definitions('#define RED "\\033[31m"') == [CDefine("RED", "\x1b[31m")]
    assert parse_definitions("#include <linux/sched.h>") == []


def test_bad_definition_is_a_syntax_error():
    with pytest.raises(SyntaxErr, match="in C definition"):
        parse_definitions("struct Foo { int a b; }")


def test_the_last_members_semicolon_may_be_left_out():
    # as clang takes it (bpftrace 0.26's bitfield_access_2 case)
    (st,) = parse_definitions("struct Bar { short a:4, b:8; int e:9, f:15 }")
    assert [(m.name, m.bits) for m in st.members] == [("a", 4), ("b", 8), ("e", 9), ("f", 15)]


@pytest.mark.parametrize("text, packed", [
    ("struct P { char a; int b; } __attribute__((packed));", True),
    ("struct __attribute__((__packed__)) P { char a; int b; };", True),
    ("struct P { char a; int b; } __attribute__((aligned(8), unused));", False),
])
def test_attributes_are_read_and_packed_is_kept(text, packed):
    (st,) = parse_definitions(text)
    assert (st.name, [m.name for m in st.members], st.packed) == ("P", ["a", "b"], packed)


def test_member_attributes_and_alignment_are_read():
    (st,) = parse_definitions("struct S { char a; int b __attribute__((aligned(8))); "
                              "long __attribute__((packed)) c; short d __attribute__((unused)); }"
                              " __attribute__((aligned));")
    assert [(m.name, m.aligned, m.packed) for m in st.members] == [
        ("a", 0, False), ("b", 8, False), ("c", 0, True), ("d", 0, False)]
    assert (st.aligned, st.packed) == (16, False)
