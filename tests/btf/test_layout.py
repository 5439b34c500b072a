"""Name lookup, resolution, sizeof, member lookup through anonymous
structs/unions, bitfields and offsetof, on a hand-built 'kernel'."""

import pytest

from bpfscope.btf import BtfError, Field, kinds as K


@pytest.fixture
def kern(enc):
    """A small kernel-like type graph. C equivalent::

        typedef int pid_t;
        struct list_head { struct list_head *next, *prev; };      // 16
        struct task {                                               // 64
            volatile long state;          // 0
            pid_t pid;                    // 8
            union {                       // 12 (anonymous)
                unsigned int flags;
                struct { unsigned int a:3, b:5; };   // anonymous, bitfields
            };
            struct task *parent;          // 16
            char comm[4];                 // 24
            struct list_head tasks[2];    // 32
        };
        struct old_bits { unsigned int lo:4 (INT-encoded), hi:4 (INT-encoded) };
    """
    e = enc
    i = {}
    i["int"] = e.int("int", 4, signed=True)
    i["uint"] = e.int("unsigned int", 4)
    i["long"] = e.int("long int", 8, signed=True)
    i["ulong"] = e.int("long unsigned int", 8)
    i["char"] = e.int("char", 1, signed=True, char=True)
    i["pid_t"] = e.typedef("pid_t", i["int"])
    i["lh"] = e.next_id + 1
    i["lh_ptr"] = e.ptr(i["lh"])
    assert e.struct("list_head", 16, [("next", i["lh_ptr"], 0), ("prev", i["lh_ptr"], 64)]) == i["lh"]
    i["vlong"] = e.volatile(i["long"])
    i["bits"] = e.struct("", 4, [("a", i["uint"], 0, 3), ("b", i["uint"], 3, 5)])
    i["anon_u"] = e.union("", 4, [("flags", i["uint"], 0), ("", i["bits"], 0)])
    i["comm"] = e.array(i["char"], 4, i["int"])
    i["tasks"] = e.array(i["lh"], 2, i["int"])
    i["task"] = e.next_id + 1
    i["task_ptr"] = e.ptr(i["task"])
    assert e.struct("task", 64, [
        ("state", i["vlong"], 0), ("pid", i["pid_t"], 64), ("", i["anon_u"], 96),
        ("parent", i["task_ptr"], 128), ("comm", i["comm"], 192),
        ("tasks", i["tasks"], 256)]) == i["task"]
    i["task_t"] = e.typedef("task_t", i["task"])
    i["ctask"] = e.const(i["task_t"])
    i["u4lo"] = e.int("unsigned int", 4, bits=4)
    i["u4hi"] = e.int("unsigned int", 4, bits=4, offset=4)
    i["old"] = e.struct("old_bits", 4, [("lo", i["u4lo"], 0), ("hi", i["u4hi"], 0)], kflag=False)
    i["fwd"] = e.fwd("task")
    i["fwd_only"] = e.fwd("opaque")
    i["proto"] = e.func_proto(i["int"], [])
    i["e"] = e.enum("state", [("RUNNING", 0)])
    i["var"] = e.var("init_task", i["task"])
    return e.btf(), i


def test_find(kern):
    b, i = kern
    assert b.find("task") == i["task"]              # the full struct, not the FWD
    assert b.find_all("task") == [i["task"], i["fwd"]]
    assert b.find("struct task") == i["task"]
    assert b.find("union task") is None
    assert b.find("task", K.FWD) == i["fwd"]
    assert b.find("task", "fwd") == i["fwd"]
    assert b.find("opaque") == i["fwd_only"]        # only a FWD: still found
    assert b.find("pid_t") == i["pid_t"]
    assert b.find("enum state") == i["e"]
    assert b.find("state") == i["e"]
    assert b.find("struct state") is None
    assert b.find("unsigned int") == i["uint"]
    assert b.find_all("unsigned int") == [i["uint"], i["u4lo"], i["u4hi"]]
    assert b.find("task_t", (K.TYPEDEF, K.STRUCT)) == i["task_t"]
    assert b.find("nope") is None and b.find("") is None
    assert b.find("tas") is None and b.find("ask") is None   # whole strings only
    assert b.get("list_head") == i["lh"]
    with pytest.raises(BtfError, match="type 'struct nope' not found"):
        b.get("struct nope")
    with pytest.raises(BtfError, match="'struct nope' not found"):
        b.get("nope", K.STRUCT)


def test_resolve(kern):
    b, i = kern
    assert b.resolve(i["ctask"]) == i["task"]
    assert b.resolve(i["ctask"], typedefs=False) == i["task_t"]
    assert b.resolve(i["vlong"]) == i["long"]
    assert b.resolve(i["task"]) == i["task"]


def test_sizeof(kern):
    b, i = kern
    assert b.sizeof(i["task"]) == 64
    assert b.sizeof("task") == 64
    assert b.sizeof(i["ctask"]) == 64
    assert b.sizeof(i["pid_t"]) == 4
    assert b.sizeof(i["task_ptr"]) == 8
    assert b.sizeof(i["comm"]) == 4
    assert b.sizeof(i["tasks"]) == 32
    assert b.sizeof(i["vlong"]) == 8
    assert b.sizeof(i["e"]) == 4
    assert b.sizeof(i["var"]) == 64
    assert b.sizeof(i["fwd"]) == 64                 # completed from the full struct
    for bad, what in [(0, "void"), (i["fwd_only"], "incomplete"),
                      (i["proto"], "function type")]:
        with pytest.raises(BtfError, match=what):
            b.sizeof(bad)


def test_pointer_size_follows_unsigned_long(Encoder):
    e = Encoder()
    e.int("long unsigned int", 4)
    p = e.ptr(0)
    assert e.btf().sizeof(p) == 4


def test_members(kern):
    b, i = kern
    assert b.member(i["task"], "pid") == Field("pid", i["pid_t"], 64, 0)
    assert b.member("task", "pid").offset == 8
    assert b.member(i["ctask"], "parent") == Field("parent", i["task_ptr"], 128, 0)
    # Through the anonymous union and the anonymous struct inside it.
    assert b.member(i["task"], "flags") == Field("flags", i["uint"], 96, 0)
    a = b.member(i["task"], "a")
    assert a == Field("a", i["uint"], 96, 3) and a.is_bitfield and a.offset == 12
    assert b.member(i["task"], "b") == Field("b", i["uint"], 99, 5)
    # A FWD used as the struct is completed first.
    assert b.member(i["fwd"], "comm").offset == 24
    names = [f.name for f in b.members(i["task"])]
    assert names == ["state", "pid", "flags", "a", "b", "parent", "comm", "tasks"]
    assert [f.bit_offset for f in b.members(i["task"])] == [0, 64, 96, 96, 99, 128, 192, 256]


def test_old_style_int_bitfields(kern):
    """Without kind_flag a bitfield is an INT whose bits < its size."""
    b, i = kern
    assert b.member(i["old"], "lo") == Field("lo", i["u4lo"], 0, 4)
    assert b.member(i["old"], "hi") == Field("hi", i["u4hi"], 4, 4)


def test_member_errors(kern):
    b, i = kern
    with pytest.raises(BtfError, match="struct task has no member named 'nope'"):
        b.member(i["task"], "nope")
    with pytest.raises(BtfError, match="is not a struct or union"):
        b.member(i["int"], "x")
    with pytest.raises(BtfError, match="struct opaque is incomplete"):
        b.member(i["fwd_only"], "x")
    assert b.find_member(i["task"], "nope") is None
    assert b.find_member("task", "b") == Field("b", i["uint"], 99, 5)


def test_offsetof(kern):
    b, i = kern
    assert b.offsetof("task", "pid") == 8
    assert b.offsetof("struct task", "parent") == 16
    assert b.offsetof(i["task_t"], "flags") == 12
    assert b.offsetof("task", "tasks") == 32
    assert b.offsetof("task", "tasks[1]") == 48
    assert b.offsetof("task", "tasks[1].prev") == 56
    assert b.offsetof("task", "comm[3]") == 27
    f = b.field("task", "tasks[1].prev")
    assert f == Field("prev", i["lh_ptr"], 448, 0)
    assert b.field("task", "comm[2]") == Field("comm[2]", i["char"], 208, 0)
    with pytest.raises(BtfError, match="bitfield 'a'"):
        b.offsetof("task", "a")
    with pytest.raises(BtfError, match="not an array"):
        b.offsetof("task", "pid[1]")
    with pytest.raises(BtfError, match="not a struct or union"):
        b.offsetof("task", "parent.pid")           # offsetof never dereferences
    with pytest.raises(BtfError, match="not a struct or union"):
        b.offsetof("task", "tasks.next")           # an array needs an index
    for bad in ["", "[1]", "pid..x", "pid!"]:
        with pytest.raises(BtfError):
            b.offsetof("task", bad)


