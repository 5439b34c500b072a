"""C spellings of types, in bpftrace's style ('struct task *', 'int[16]')."""

import pytest

from bpfscope.btf import kinds as K


@pytest.fixture
def types(enc):
    e = enc
    i = {}
    i["int"] = e.int("int", 4, signed=True)
    i["char"] = e.int("char", 1, signed=True, char=True)
    i["long"] = e.int("long int", 8, signed=True)
    i["task"] = e.struct("task", 8, [("x", i["long"], 0)])
    i["task_p"] = e.ptr(i["task"])
    i["cchar"] = e.const(i["char"])
    i["cchar_p"] = e.ptr(i["cchar"])
    i["char_p"] = e.ptr(i["char"])
    i["char_pc"] = e.const(i["char_p"])
    i["char_pp"] = e.ptr(i["char_p"])
    i["arr16"] = e.array(i["int"], 16)
    i["arr3"] = e.array(i["int"], 3)
    i["arr2x3"] = e.array(i["arr3"], 2)
    i["arr_p"] = e.ptr(i["arr3"])
    i["ptr_arr"] = e.array(i["char_p"], 4)
    i["proto"] = e.func_proto(i["int"], [("a", i["int"]), ("b", i["char_p"])])
    i["fn_p"] = e.ptr(i["proto"])
    i["vproto"] = e.func_proto(i["int"], [("fmt", i["cchar_p"])], variadic=True)
    i["vfn_p"] = e.ptr(i["vproto"])
    i["void_proto"] = e.func_proto(0, [])
    i["void_fn_p"] = e.ptr(i["void_proto"])
    i["fn_arr"] = e.array(i["void_fn_p"], 3)
    i["void_p"] = e.ptr(0)
    i["anon_s"] = e.struct("", 4, [("a", i["int"], 0)])
    i["anon_u"] = e.union("", 4, [("a", i["int"], 0)])
    i["anon_e"] = e.enum("", [("A", 0)])
    i["uni"] = e.union("val", 8, [("l", i["long"], 0)])
    i["en"] = e.enum("state", [("A", 0)])
    i["en64"] = e.enum64("big", [("B", 1 << 40)])
    i["fwd_s"] = e.fwd("opaque")
    i["fwd_u"] = e.fwd("uopaque", union=True)
    i["pid_t"] = e.typedef("pid_t", i["int"])
    i["cpid"] = e.const(i["pid_t"])
    i["vlong"] = e.volatile(i["long"])
    i["rcu"] = e.type_tag("rcu", i["task"])
    i["rcu_p"] = e.ptr(i["rcu"])
    i["restrict_p"] = e.restrict(i["char_p"])
    i["func"] = e.func("handler", i["proto"])
    i["double"] = e.float("double", 8)
    i["var"] = e.var("counter", i["int"])
    return e.btf(), i


@pytest.mark.parametrize("key, text", [
    ("int", "int"),
    ("task", "struct task"),
    ("task_p", "struct task *"),
    ("cchar", "const char"),
    ("cchar_p", "const char *"),
    ("char_pc", "char *const"),
    ("char_pp", "char **"),
    ("arr16", "int[16]"),
    ("arr2x3", "int[2][3]"),
    ("arr_p", "int (*)[3]"),
    ("ptr_arr", "char *[4]"),
    ("proto", "int (int, char *)"),
    ("fn_p", "int (*)(int, char *)"),
    ("vfn_p", "int (*)(const char *, ...)"),
    ("void_fn_p", "void (*)(void)"),
    ("fn_arr", "void (*[3])(void)"),
    ("void_p", "void *"),
    ("anon_s", "struct (anonymous)"),
    ("anon_u", "union (anonymous)"),
    ("anon_e", "enum (anonymous)"),
    ("uni", "union val"),
    ("en", "enum state"),
    ("en64", "enum big"),
    ("fwd_s", "struct opaque"),
    ("fwd_u", "union uopaque"),
    ("pid_t", "pid_t"),
    ("cpid", "const pid_t"),
    ("vlong", "volatile long int"),
    ("rcu_p", "struct task *"),          # type tags are not C
    ("restrict_p", "char *restrict"),
    ("func", "int handler(int, char *)"),
    ("double", "double"),
    ("var", "int counter"),
])
def test_type_name(types, key, text):
    b, i = types
    assert b.type_name(i[key]) == text


def test_void(types):
    b, _ = types
    assert b.type_name(0) == "void"


@pytest.mark.parametrize("key, name, text", [
    ("int", "x", "int x"),
    ("task_p", "parent", "struct task *parent"),
    ("arr16", "comm", "int comm[16]"),
    ("arr2x3", "m", "int m[2][3]"),
    ("arr_p", "rows", "int (*rows)[3]"),
    ("fn_p", "fn", "int (*fn)(int, char *)"),
    ("fn_arr", "hooks", "void (*hooks[3])(void)"),
    ("char_pc", "s", "char *const s"),
])
def test_declaration(types, key, name, text):
    b, i = types
    assert b.declaration(i[key], name) == text


def test_kind_names():
    assert K.kind_of("struct") == K.STRUCT and K.kind_of(K.ENUM64) == K.ENUM64
    with pytest.raises(ValueError):
        K.kind_of("nope")


# ------------------------------------------------------------ definitions

def test_definition_of_a_struct(enc):
    from bpfscope.btf.cname import definition
    e = enc
    i = e.int("int", 4, signed=True)
    u = e.int("unsigned int", 4)
    c = e.int("char", 1, signed=True, char=True)
    lng = e.int("long int", 8, signed=True)
    inner = e.struct("", 8, [("a", i, 0), ("b", i, 32)])
    un = e.union("", 8, [("l", lng, 0), ("s", inner, 0)])
    named_anon = e.struct("", 4, [("x", i, 0)])
    s = e.struct("demo", 48, [
        ("flag", c, 0),                     # then a gap the next int closes by itself
        ("n", i, 32),
        ("lo", u, 64, 3), ("hi", u, 67, 2),  # bitfields, then a hole inside the word
        ("far", u, 96, 1),
        ("", un, 128),                       # an unnamed union, written in place
        ("in", named_anon, 192),
        ("p", e.ptr(i), 256),                # 32 bits after 'in': natural alignment
        ("comm", e.array(c, 8), 320),
    ])                                       # 384 = 48 bytes: no tail
    b = e.btf()
    assert definition(b, s) == (
        "struct demo {\n"
        "\tchar flag;\n"
        "\tint n;\n"
        "\tunsigned int lo: 3;\n"
        "\tunsigned int hi: 2;\n"
        "\tint: 27;\n"
        "\tunsigned int far: 1;\n"
        "\tunion {\n"
        "\t\tlong int l;\n"
        "\t\tstruct {\n"
        "\t\t\tint a;\n"
        "\t\t\tint b;\n"
        "\t\t} s;\n"
        "\t};\n"
        "\tstruct {\n"
        "\t\tint x;\n"
        "\t} in;\n"
        "\tint *p;\n"
        "\tchar comm[8];\n"
        "};")


def test_definition_pads_gaps_alignment_does_not_close(enc):
    from bpfscope.btf.cname import definition
    e = enc
    c = e.int("char", 1, signed=True, char=True)
    lng = e.int("long int", 8, signed=True)
    empty = e.struct("stats", 0, [])
    s = e.struct("t", 32, [("c", c, 0), ("st", empty, 128), ("last", lng, 128)])
    b = e.btf()
    # 'st' has no alignment of its own: the gap is written out; then the
    # tail (the 8 bytes after 'last') as a whole long
    assert definition(b, s).splitlines()[1:] == [
        "\tchar c;", "\tlong: 64;", "\tstruct stats st;", "\tlong int last;",
        "\tlong: 64;", "};"]


def test_definition_of_an_enum(enc):
    from bpfscope.btf.cname import definition
    e = enc
    en = e.enum("pid_type", [("PIDTYPE_PID", 0), ("PIDTYPE_MAX", 4)])
    assert definition(e.btf(), en) == "enum pid_type {\n\tPIDTYPE_PID = 0,\n\tPIDTYPE_MAX = 4,\n};"
