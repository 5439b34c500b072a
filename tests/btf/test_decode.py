"""Header parsing and the decoding of every BTF kind, on hand-built blobs."""

import struct

import pytest

from bpfscope.btf import BtfError, kinds as K
from bpfscope.btf import types as T
from bpfscope.btf.reader import Btf


def every_kind(e):
    ids = {}
    ids["int"] = e.int("int", 4, signed=True)
    ids["char"] = e.int("char", 1, signed=True, char=True)
    ids["bool"] = e.int("_Bool", 1, bool_=True)
    ids["u3"] = e.int("u3", 1, bits=3, offset=2)
    ids["ptr"] = e.ptr(ids["int"])
    ids["arr"] = e.array(ids["int"], 16, ids["int"])
    ids["struct"] = e.struct("s", 8, [("a", ids["int"], 0), ("b", ids["char"], 32)])
    ids["bits"] = e.struct("bf", 4, [("x", ids["int"], 0, 3), ("y", ids["int"], 3, 5)])
    ids["union"] = e.union("u", 4, [("i", ids["int"], 0), ("c", ids["char"], 0)])
    ids["enum"] = e.enum("color", [("RED", 0), ("GREEN", 1), ("BIG", 0xFFFFFFFF)])
    ids["senum"] = e.enum("sgn", [("NEG", -2), ("POS", 7)], signed=True)
    ids["enum64"] = e.enum64("e64", [("HUGE", 1 << 40), ("TOP", 0xFFFFFFFF00000000)])
    ids["senum64"] = e.enum64("s64", [("MIN", -(1 << 63)), ("M1", -1)], signed=True)
    ids["fwd"] = e.fwd("later")
    ids["fwdu"] = e.fwd("ulater", union=True)
    ids["typedef"] = e.typedef("myint", ids["int"])
    ids["volatile"] = e.volatile(ids["int"])
    ids["const"] = e.const(ids["char"])
    ids["restrict"] = e.restrict(ids["ptr"])
    ids["proto"] = e.func_proto(ids["int"], [("a", ids["int"]), ("b", ids["ptr"])])
    ids["vproto"] = e.func_proto(0, [("fmt", ids["ptr"])], variadic=True)
    ids["func"] = e.func("f", ids["proto"], K.FUNC_STATIC)
    ids["var"] = e.var("counter", ids["int"], K.VAR_GLOBAL_ALLOCATED)
    ids["datasec"] = e.datasec(".data", 8, [(ids["var"], 4, 4)])
    ids["float"] = e.float("double", 8)
    ids["decl_tag"] = e.decl_tag("user", ids["func"], 1)
    ids["type_tag"] = e.type_tag("rcu", ids["int"])
    return ids


@pytest.fixture
def built(enc):
    ids = every_kind(enc)
    return enc, ids


def check_every_kind(b, ids):
    i = ids
    assert b.type(0) == T.Void(0, K.UNKN, "void")
    assert b.type(i["int"]) == T.Int(i["int"], K.INT, "int", 4, K.INT_SIGNED, 32, 0)
    assert b.type(i["int"]).signed and not b.type(i["int"]).is_char
    assert b.type(i["char"]).is_char and b.type(i["char"]).signed
    assert b.type(i["bool"]).is_bool and not b.type(i["bool"]).signed
    assert b.type(i["u3"]) == T.Int(i["u3"], K.INT, "u3", 1, 0, 3, 2)
    assert b.type(i["ptr"]) == T.Ref(i["ptr"], K.PTR, "", i["int"])
    assert b.type(i["arr"]) == T.Array(i["arr"], K.ARRAY, "", i["int"], i["int"], 16)
    assert b.type(i["struct"]) == T.Struct(i["struct"], K.STRUCT, "s", 8, (
        T.Member("a", i["int"], 0, 0), T.Member("b", i["char"], 32, 0)), False)
    assert b.type(i["struct"]).members[1].offset == 4
    assert b.type(i["bits"]) == T.Struct(i["bits"], K.STRUCT, "bf", 4, (
        T.Member("x", i["int"], 0, 3), T.Member("y", i["int"], 3, 5)), True)
    u = b.type(i["union"])
    assert u.is_union and u.kind == K.UNION and [m.name for m in u.members] == ["i", "c"]
    assert b.type(i["enum"]) == T.Enum(i["enum"], K.ENUM, "color", 4, (
        T.EnumValue("RED", 0), T.EnumValue("GREEN", 1), T.EnumValue("BIG", 0xFFFFFFFF)), False)
    assert [v.value for v in b.type(i["senum"]).values] == [-2, 7]
    assert b.type(i["senum"]).signed
    e64 = b.type(i["enum64"])
    assert e64.kind == K.ENUM64 and e64.size == 8 and not e64.signed
    assert [v.value for v in e64.values] == [1 << 40, 0xFFFFFFFF00000000]
    assert [v.value for v in b.type(i["senum64"]).values] == [-(1 << 63), -1]
    assert b.type(i["fwd"]) == T.Fwd(i["fwd"], K.FWD, "later", False)
    assert b.type(i["fwdu"]).is_union
    assert b.type(i["typedef"]) == T.Ref(i["typedef"], K.TYPEDEF, "myint", i["int"])
    assert b.type(i["volatile"]).kind == K.VOLATILE
    assert b.type(i["const"]) == T.Ref(i["const"], K.CONST, "", i["char"])
    assert b.type(i["restrict"]).type == i["ptr"]
    assert b.type(i["proto"]) == T.FuncProto(i["proto"], K.FUNC_PROTO, "", i["int"], (
        T.Param("a", i["int"]), T.Param("b", i["ptr"])), False)
    assert b.type(i["vproto"]) == T.FuncProto(i["vproto"], K.FUNC_PROTO, "", 0, (
        T.Param("fmt", i["ptr"]),), True)
    assert b.type(i["func"]) == T.Func(i["func"], K.FUNC, "f", i["proto"], K.FUNC_STATIC)
    assert b.type(i["var"]) == T.Var(i["var"], K.VAR, "counter", i["int"], K.VAR_GLOBAL_ALLOCATED)
    assert b.type(i["datasec"]) == T.Datasec(i["datasec"], K.DATASEC, ".data", 8, (
        T.VarSecinfo(i["var"], 4, 4),))
    assert b.type(i["float"]) == T.Float(i["float"], K.FLOAT, "double", 8)
    assert b.type(i["decl_tag"]) == T.DeclTag(i["decl_tag"], K.DECL_TAG, "user", i["func"], 1)
    assert b.type(i["type_tag"]) == T.Ref(i["type_tag"], K.TYPE_TAG, "rcu", i["int"])
    assert b.type(i["type_tag"]).kind_name == "TYPE_TAG"


def test_every_kind(built):
    e, ids = built
    b = e.btf()
    check_every_kind(b, ids)
    assert b.count == len(ids) + 1 == len(b)
    assert list(b.ids()) == list(range(1, b.count))
    assert list(b.ids("enum64")) == [ids["enum64"], ids["senum64"]]
    assert b.kind(ids["func"]) == K.FUNC and b.name_of(ids["func"]) == "f"
    assert b.name_of(0) == "void" and b.kind(0) == K.UNKN


def test_memoized(built):
    e, ids = built
    b = e.btf()
    assert b.type(ids["struct"]) is b.type(ids["struct"])


@pytest.mark.parametrize("layout", [
    {"big_endian": True}, {"hdr_pad": 8}, {"str_first": True},
    {"big_endian": True, "str_first": True},
])
def test_layouts(built, layout):
    """Byte order, a longer header and sections in either order all read
    the same (the copied, byte-swapped path as well as the in-place view)."""
    e, ids = built
    check_every_kind(e.btf(**layout), ids)
    assert e.btf(**layout).find("color") == ids["enum"]


def test_unaligned_type_section(built):
    """A type section at an offset that is not 4-aligned is copied."""
    e, ids = built
    blob = e.blob(hdr_pad=1)
    b = Btf(blob)
    check_every_kind(b, ids)


def header(**kw):
    f = dict(magic=K.MAGIC, version=1, flags=0, hdr_len=24, type_off=0,
             type_len=0, str_off=0, str_len=1)
    f.update(kw)
    return struct.pack("<HBBIIIII", *f.values())


@pytest.mark.parametrize("blob, msg", [
    (b"\x9f\xeb", "too short"),
    (header(magic=0x1234) + b"\0", "not BTF data"),
    (header(version=2) + b"\0", "unsupported BTF version 2"),
    (header(str_len=100) + b"\0", "do not fit"),
    (header(type_len=2, str_off=2) + b"\0\0\0", "do not fit"),
])
def test_bad_headers(blob, msg):
    with pytest.raises(BtfError, match=msg):
        Btf(blob)


def test_truncated_record(enc):
    # unknown kinds: tests/btf/test_unknown_kind.py
    e2 = type(enc)()
    e2.records.append(struct.pack("<III", 0, (K.STRUCT << 24) | 2, 8))  # no members
    with pytest.raises(BtfError, match="ends inside"):
        e2.btf()


def test_bad_ids_and_strings(built):
    e, ids = built
    b = e.btf()
    with pytest.raises(BtfError, match="out of range"):
        b.type(b.count)
    with pytest.raises(BtfError, match="string offset"):
        b.str_at(10 ** 6)


def test_empty_btf(enc):
    b = enc.btf()
    assert b.count == 1 and list(b.ids()) == [] and b.find("int") is None


def test_records_are_values():
    a = T.Member("x", 1, 8, 0)
    assert a == T.Member(name="x", type=1, bit_offset=8, bitfield_size=0)
    assert hash(a) == hash(T.Member("x", 1, 8, 0)) and a != T.Member("x", 1, 9, 0)
    assert a != T.Param("x", 1) and repr(a) == "Member(name='x', type=1, bit_offset=8, bitfield_size=0)"
    assert a.offset == 1
    with pytest.raises(AttributeError, match="read-only"):
        a.type = 2
    with pytest.raises(AttributeError, match="read-only"):
        del a.type
    for args, kw in [((1, 2, 3, 4, 5), {}), (("x",), {}), (("x", 1, 2), {"name": "y"}),
                     (("x", 1, 2), {"nope": 0})]:
        with pytest.raises(TypeError):
            T.Member(*args, **kw)
    assert T.Int._fields == ("id", "kind", "name", "size", "encoding", "bits", "bit_offset")
