"""attach.dwarfargs: which register each parameter is in at a function's
entry (x86-64 System V), and the program's types in sema's terms."""

from bpfscope.arch.x86_64 import PT_REGS_X86_64 as R
from bpfscope.attach.dwarfargs import DebugArgs, parameter_fields
from bpfscope.elf.dwarftypes import CType, FunctionInfo, Param
from bpfscope.sema import types as T

INT = CType("int", "int", 4, True)
LONG = CType("int", "long int", 8, True)
DOUBLE = CType("float", "double", 8)
VOID = CType("void", "void")


def struct(name, size, *members):
    return CType("struct", name, size, members=list(members))


def fields(*params, returns=VOID):
    info = FunctionInfo([Param(n, t) for n, t in params], {}, returns)
    return [(f.name, f.offset, f.kind, f.size, f.signed, f.c_type) for f, _ in parameter_fields(info)]


def test_integers_and_pointers_take_the_argument_registers_in_order():
    node = struct("struct Node", 8, ("a", 0, INT, 0, 0))
    ptr = CType("pointer", "struct Node*", 8, target=node)
    assert fields(("a", INT), ("p", ptr), ("b", CType("bool", "_Bool", 1))) == [
        ("a", R["rdi"], "int", 4, True, "int"),
        ("p", R["rsi"], "pointer", 8, False, "struct Node *"),
        ("b", R["rdx"], "bool", 1, False, "_Bool")]


def test_floats_and_small_structs_by_value_are_skipped_with_their_registers():
    point = struct("struct Point", 8, ("x", 0, INT, 0, 0), ("y", 4, INT, 0, 0))
    pair = struct("struct Two", 16, ("x", 0, LONG, 0, 0), ("y", 8, LONG, 0, 0))
    big = struct("struct Big", 32, ("v", 0, LONG, 0, 0))
    # the double is in xmm0, Point in rdi, Two in rsi+rdx, Big on the stack
    assert fields(("d", DOUBLE), ("p", point), ("t", pair), ("b", big), ("k", INT)) == [
        ("k", R["rcx"], "int", 4, True, "int")]


def test_a_big_struct_returned_takes_rdi_first():
    big = struct("struct Big", 32, ("v", 0, LONG, 0, 0))
    assert fields(("seed", INT), returns=big)[0][:2] == ("seed", R["rsi"])


def test_after_a_struct_mixing_floats_and_integers_nothing_is_certain():
    mixed = struct("struct Mixed", 16, ("d", 0, DOUBLE, 0, 0), ("n", 8, LONG, 0, 0))
    assert fields(("a", INT), ("m", mixed), ("b", INT)) == [("a", R["rdi"], "int", 4, True, "int")]


def test_past_six_registers_arguments_are_on_the_stack():
    assert [f[0] for f in fields(*[(f"a{i}", INT) for i in range(8)])] == [
        f"a{i}" for i in range(6)]


def test_program_types_become_user_memory_structs():
    node = struct("struct Node", 24, ("a", 0, INT, 0, 0),
                  ("b", 4, CType("array", "char[10]", 10, target=CType("int", "char", 1, True),
                                 count=10), 0, 0),
                  ("flag", 14, CType("int", "unsigned int", 4), 1, 3))
    node.members.append(("next", 16, CType("pointer", "struct Node*", 8, target=node), 0, 0))
    d = DebugArgs("/nonexistent", 0, False)
    d._info = FunctionInfo([], {"struct Node": node}, VOID)
    st = d.type_named("struct Node")
    assert (st.name, st.size, st.user) == ("struct Node", 24, True)
    assert [(m.name, m.offset, m.type, m.bit_offset, m.bits) for m in st.members] == [
        ("a", 0, T.IntType(32, True), 0, 0), ("b", 4, T.StringType(10), 0, 0),
        ("flag", 14, T.IntType(32, False), 1, 3),
        ("next", 16, T.PointerType(target="struct Node", user=True), 0, 0)]
    assert d.type_named("struct Other") is None


def test_no_debug_information_gives_no_args():
    d = DebugArgs("/nonexistent", 0, False)
    assert d.args() is None and d.declarations() is None and d.type_named("struct X") is None
