"""Function signatures and enum values."""

import pytest

from bpfscope.btf import BtfError, Param, kinds as K


@pytest.fixture
def syms(enc):
    e = enc
    i = {}
    i["int"] = e.int("int", 4, signed=True)
    i["char_p"] = e.ptr(e.int("char", 1, signed=True, char=True))
    # A struct member sharing an enumerator's name must not be taken for it.
    i["s"] = e.struct("RED", 4, [("RED", i["int"], 0), ("GREEN", i["int"], 0)])
    i["color"] = e.enum("color", [("RED", 0), ("GREEN", 1), ("BLUE", 2), ("ALIAS", 1)])
    i["sgn"] = e.enum("sgn", [("NEG", -5)], signed=True)
    i["e64"] = e.enum64("e64", [("BIG", 1 << 40), ("ALL", (1 << 64) - 1)])
    i["s64"] = e.enum64("s64", [("MINUS", -3)], signed=True)
    i["color_t"] = e.typedef("color_t", i["color"])
    i["proto"] = e.func_proto(i["int"], [("file", i["char_p"]), ("count", i["int"])])
    i["f"] = e.func("vfs_read", i["proto"], K.FUNC_GLOBAL)
    i["vproto"] = e.func_proto(0, [("fmt", i["char_p"])], variadic=True)
    i["pk"] = e.func("printk", i["vproto"], K.FUNC_STATIC)
    i["bad"] = e.func("broken", i["int"])
    return e.btf(), i


def test_func_proto_of(syms):
    b, i = syms
    sig = b.func_proto_of("vfs_read")
    assert sig.params == (Param("file", i["char_p"]), Param("count", i["int"]))
    assert sig.ret == i["int"] and not sig.variadic
    assert (sig.func_id, sig.proto_id, sig.linkage) == (i["f"], i["proto"], K.FUNC_GLOBAL)
    pk = b.func_proto_of("printk")
    assert pk.variadic and pk.ret == 0 and [p.name for p in pk.params] == ["fmt"]
    with pytest.raises(BtfError, match="function 'nope' not found"):
        b.func_proto_of("nope")
    with pytest.raises(BtfError, match="no prototype"):
        b.func_proto_of("broken")


def test_enum_lookup(syms):
    b, i = syms
    assert b.enum_value(i["color"], "BLUE") == 2
    assert b.enum_value("color", "GREEN") == 1
    assert b.enum_value("enum color", "RED") == 0
    assert b.enum_value(i["color_t"], "RED") == 0       # through a typedef
    assert b.enum_name("color", 2) == "BLUE"
    assert b.enum_name("color", 1) == "GREEN"           # the first of equal values
    assert b.enum_name("color", 9) is None
    assert b.enum_value("sgn", "NEG") == -5
    assert b.enum_value("e64", "BIG") == 1 << 40
    assert b.enum_value("e64", "ALL") == (1 << 64) - 1
    assert b.enum_value("s64", "MINUS") == -3
    assert b.enum_name("s64", -3) == "MINUS"
    with pytest.raises(BtfError, match="enum color has no enumerator 'PINK'"):
        b.enum_value("color", "PINK")
    with pytest.raises(BtfError, match="not an enum"):
        b.enum_value(i["int"], "X")


def test_find_enumerator(syms):
    b, i = syms
    assert b.find_enumerator("RED") == (i["color"], 0)
    assert b.find_enumerator("GREEN") == (i["color"], 1)
    assert b.find_enumerator("ALIAS") == (i["color"], 1)
    assert b.find_enumerator("NEG") == (i["sgn"], -5)
    assert b.find_enumerator("ALL") == (i["e64"], (1 << 64) - 1)
    assert b.find_enumerator("MINUS") == (i["s64"], -3)
    assert b.find_enumerator("color") is None            # a type, not an enumerator
    assert b.find_enumerator("file") is None             # a parameter name
    assert b.find_enumerator("PURPLE") is None


def test_find_enumerator_byteswapped(syms, enc):
    """The copied (non-native byte order) section takes the scanning path."""
    from bpfscope.btf.reader import Btf
    b = Btf(enc.blob(big_endian=True))
    assert b._t0 is None
    assert b.find_enumerator("BLUE") == (syms[1]["color"], 2)
    assert b.find_enumerator("RED") == (syms[1]["color"], 0)
