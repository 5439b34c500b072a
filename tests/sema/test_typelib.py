"""Kernel types from BTF and script definitions as language types: names,
members, C layout of script structs (checked against what gcc lays out
for the same definitions on x86-64), and the analyser's typing of member,
element and dereference expressions."""

import os

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang.cdecl import parse_definitions
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe
from bpfscope.sema.typelib import TypeLibrary

HAVE_BTF = os.access("/sys/kernel/btf/vmlinux", os.R_OK)
needs_btf = pytest.mark.skipif(not HAVE_BTF, reason="no readable /sys/kernel/btf/vmlinux")

FOO = """
struct Inner { short s; char tag[3]; };
struct Foo {
  int a;
  char name[8];
  struct Foo *next;
  unsigned int f:3, g:5;
  int neg:4;
  struct Inner in;
  long arr[2];
  union { int u1; char u2; };
};
"""


def lib(text=FOO):
    tl = TypeLibrary()
    tl.define(parse_definitions(text))
    return tl


def test_script_struct_layout_matches_gcc():
    tl = lib()
    foo = tl.named("struct Foo")
    # gcc -O0 x86-64: sizeof 56; next 16, in 26 (in.tag 28), arr 32, u1 48
    assert foo.size == 56
    got = {m.name: (m.offset, m.bit_offset, m.bits) for m in tl.members(foo)}
    assert got == {"a": (0, 0, 0), "name": (4, 0, 0), "next": (16, 0, 0),
                   "f": (24, 0, 3), "g": (24, 3, 5), "neg": (24, 8, 4),
                   "in": (26, 0, 0), "arr": (32, 0, 0), "u1": (48, 0, 0), "u2": (48, 0, 0)}
    types = {m.name: m.type for m in tl.members(foo)}
    assert types["name"] == T.StringType(8)
    assert types["arr"] == T.ArrayType(T.IntType(64, True), 2, 8)
    assert types["next"] == T.PointerType(target="struct Foo")
    assert tl.pointee(types["next"]) == foo


def test_typedefs_of_the_script_name_types():
    an = _analyze("typedef unsigned short myu16;\ntypedef struct { int a; long b; } pair_t;\n"
                  "BEGIN { print(sizeof(myu16)); print(sizeof(pair_t)); "
                  "$p = (pair_t *)0; print($p->b); }")
    body = an.program.probes[0].body
    assert [s.expr.args[0].size for s in body[:2]] == [2, 16]
    assert body[-1].expr.args[0].type == T.IntType(64, True)


def test_packed_struct_has_no_padding():
    tl = lib("struct P { char a; int b; short c; } __attribute__((packed));")
    p = tl.named("struct P")
    assert p.size == 7
    assert [m.offset for m in tl.members(p)] == [0, 1, 5]


def test_union_size_is_its_largest_member_aligned():
    tl = lib("union U { char c[5]; int i; };")
    assert tl.named("union U").size == 8


def test_enums_and_defines_are_constants():
    tl = TypeLibrary()
    tl.define(parse_definitions("enum Color { RED, GREEN = 5, BLUE };"))
    tl.define(parse_definitions("#define MAGIC 42"))
    assert (tl.enumerator("GREEN"), tl.enumerator("BLUE"), tl.enumerator("MAGIC")) == (5, 6, 42)


@needs_btf
def test_kernel_types_by_name():
    tl = TypeLibrary()
    task = tl.named("struct task_struct")
    assert isinstance(task, T.StructType) and task.size > 1000
    assert tl.member(task, "comm").type == T.StringType(16)
    parent = tl.member(task, "parent").type
    assert isinstance(parent, T.PointerType) and tl.pointee(parent) == task
    assert tl.named("u32") == T.UINT32
    assert tl.named("const char *") == T.PointerType(target="char")
    assert tl.enumerator("TASK_COMM_LEN") == 16


def _analyze(src, provider="BEGIN"):
    def expander(ap):
        return [ExpandedProbe(provider, ap.parts[0], (), None, ap.span,
                              context="regs" if provider == "uprobe" else "none")]
    return Analyzer(parse(Source(src)), expander).run()


def _type_of_print(src):
    an = _analyze(FOO + src)
    call = an.program.probes[0].body[-1].expr
    return call.args[0].type


@pytest.mark.parametrize("expr, want", [
    ("$p->a", T.IntType(32, True)),
    ("$p.a", T.IntType(32, True)),           # '.' follows the pointer too
    ("$p->next->next", T.PointerType(target="struct Foo")),
    ("$p->in.tag", T.StringType(3)),
    ("$p->arr[1]", T.IntType(64, True)),
    ("$p->f", T.IntType(32, False)),
    ("(*$p).in.s", T.IntType(16, True)),
    ("$p[1].a", T.IntType(32, True)),
    ("$p + 1", T.PointerType(target="struct Foo")),
    ("sizeof(struct Foo)", T.UINT64),
    ("(uint8[4])(uint32)7", T.ArrayType(T.IntType(8, False), 4, 1)),
    ("(uint8[])(uint32)7", T.ArrayType(T.IntType(8, False), 4, 1)),
])
def test_member_element_and_deref_types(expr, want):
    assert _type_of_print(f"BEGIN {{ $p = (struct Foo *)0; print({expr}); }}") == want


def test_pointer_arithmetic_steps_by_the_pointee_size():
    an = _analyze(FOO + "BEGIN { $p = (struct Foo *)0; print($p + 2); }")
    assert an.program.probes[0].body[-1].expr.args[0].scale == 56


def test_casts_in_user_probes_make_user_pointers():
    an = _analyze(FOO + "u { $p = (struct Foo *)arg0; print($p->next); }", provider="uprobe")
    t = an.program.probes[0].body[-1].expr.args[0].type
    assert isinstance(t, T.PointerType) and t.user


@pytest.mark.parametrize("src, msg", [
    ("BEGIN { $p = (struct Foo *)0; print($p->nope); }",
     "Struct/union of type 'struct Foo' does not contain a field named 'nope'"),
    ("BEGIN { $x = \"s\"; print(*$x); }", "Can not dereference type 'string[2]'"),
    ("BEGIN { $x = 1; print($x[0]); }", "The [] operator can not be used on type 'int64'"),
    ("BEGIN { print((struct Nope *)0); }", None),
    ("BEGIN { print((uint8[3])(uint32)1); }", "an array cast needs integers of the same total size"),
    ("BEGIN { $p = (struct Foo *)0; print($p->arr[2]); }", "Index 2 is out of bounds"),
])
def test_type_errors(src, msg):
    if msg is None:   # a pointer to an unknown struct is fine until followed
        _analyze(FOO + src)
        return
    with pytest.raises(SemanticError, match=msg.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("*", r"\*")):
        _analyze(FOO + src)


def test_unknown_type_name_is_an_error():
    with pytest.raises(SemanticError, match="Unknown type: 'struct Nope'"):
        _analyze("BEGIN { print(sizeof(struct Nope)); }")


def test_header_macros_bpftrace_tools_use_are_known():
    # runqlat.bt compares with TASK_RUNNING, tcpdrop.bt with AF_INET/AF_INET6
    tl = TypeLibrary()
    assert (tl.enumerator("TASK_RUNNING"), tl.enumerator("AF_INET"),
            tl.enumerator("AF_INET6")) == (0, 2, 10)


def test_deref_of_an_integer_reads_an_int64():
    # loads.bt: $avenrun = kaddr("avenrun"); $load1 = *$avenrun;
    an = _analyze("BEGIN { $a = 1000; print(*($a + 8)); }")
    assert an.program.probes[0].body[-1].expr.args[0].type == T.INT64


@needs_btf
def test_char_arrays_are_strings_and_u8_arrays_are_bytes():
    tl = TypeLibrary()
    in6 = tl.named("struct in6_addr")
    u = tl.member(in6, "in6_u").type
    assert tl.member(u, "u6_addr8").type == T.ArrayType(T.IntType(8, False), 16, 1)
    assert tl.member(tl.named("struct task_struct"), "comm").type == T.StringType(16)


@needs_btf
def test_sizeof_of_a_typedef_name_written_as_a_value():
    # sizeof(uint32_t) parses as sizeof of an identifier; it names a type
    an = _analyze("enum e { CONST = 1 };\n"
                  "BEGIN { print(sizeof(uint32_t)); print(sizeof(u16)); print(sizeof(CONST)); }")
    sizes = [s.expr.args[0].size for s in an.program.probes[0].body]
    assert sizes == [4, 2, 8]


@pytest.mark.parametrize("text, name, size, offsets", [
    # what gcc lays out on x86-64
    ("struct S { char a; int b __attribute__((aligned(8))); };", "struct S", 16, [0, 8]),
    ("struct S { char a; int b; } __attribute__((aligned(16)));", "struct S", 16, [0, 4]),
    ("struct S { char a; int b; } __attribute__((aligned(16))); "
     "struct T { char c; struct S s; };", "struct T", 32, [0, 16]),
    ("struct Q { char a; int __attribute__((packed)) b; };", "struct Q", 5, [0, 1]),
    ("struct P { char a; int b; long c __attribute__((packed)); } __attribute__((packed));",
     "struct P", 13, [0, 1, 5]),
])
def test_aligned_and_packed_members_and_structs(text, name, size, offsets):
    tl = lib(text)
    st = tl.named(name)
    assert st.size == size
    assert [m.offset for m in tl.members(st)] == offsets


def test_float_members_are_laid_out_as_c_does():
    # bpftrace 0.26 accepts float and double members; gcc x86-64 puts
    # f at 4, d at 8, ld at 16, z at 32: 48 bytes with 16-byte alignment
    tl = lib("struct F { int m; float f; double d; long double ld; int z; };")
    f = tl.named("struct F")
    assert f.size == 48
    got = {m.name: (m.offset, m.type) for m in tl.members(f)}
    assert got["f"] == (4, T.FloatType(4)) and got["d"] == (8, T.FloatType(8))
    assert got["ld"] == (16, T.FloatType(16)) and got["z"][0] == 32


def test_reading_a_float_member_is_refused_with_its_place():
    with pytest.raises(SemanticError, match="Can not read the floating-point field 'f' "
                                            "of 'struct F'"):
        _analyze("struct F { int m; float f; }; BEGIN { $p = (struct F *)0; $x = $p->f; }")
