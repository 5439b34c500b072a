"""The BTF writer, checked by decoding what it writes with the reader."""

import struct

from bpfscope.btf import kinds as K
from bpfscope.btf import types as T
from bpfscope.btf.encode import BtfWriter, program_btf
from bpfscope.btf.reader import Btf


def test_header_and_sections():
    w = BtfWriter()
    w.add_int("int", 4, signed=True)
    data = w.blob()
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = \
        struct.unpack_from("<HBBIIIII", data)
    assert (magic, version, flags, hdr_len) == (0xEB9F, 1, 0, 24)
    assert (type_off, type_len) == (0, 16)       # one 12-byte record + the INT word
    assert (str_off, str_len) == (16, len(b"\0int\0"))
    assert data[24 + 16:] == b"\0int\0"


def test_every_kind_decodes_back():
    w = BtfWriter()
    i32 = w.add_int("int", 4, signed=True)
    u8 = w.add_int("unsigned char", 1)
    ptr = w.add_ptr(u8)
    proto = w.add_func_proto(i32, [("ctx", ptr), ("", u8)])
    static = w.add_func("cb", proto)
    glob = w.add_func("main", proto, K.FUNC_GLOBAL)
    b = Btf(w.blob(), name="test")
    assert b.type(i32) == T.Int(i32, K.INT, "int", 4, K.INT_SIGNED, 32, 0)
    assert b.type(u8) == T.Int(u8, K.INT, "unsigned char", 1, 0, 8, 0)
    assert b.type(ptr) == T.Ref(ptr, K.PTR, "", u8)
    assert b.type(proto) == T.FuncProto(proto, K.FUNC_PROTO, "", i32, (
        T.Param("ctx", ptr), T.Param("", u8)), False)
    assert b.type(static) == T.Func(static, K.FUNC, "cb", proto, K.FUNC_STATIC)
    assert b.type(glob) == T.Func(glob, K.FUNC, "main", proto, K.FUNC_GLOBAL)
    assert b.find("cb") == static
    assert b.type_name(ptr) == "unsigned char *"


def test_strings_are_shared():
    w = BtfWriter()
    a = w.add_int("long", 8, signed=True)
    w.add_func_proto(a, [("x", a), ("x", a)])
    assert w.strings == bytearray(b"\0long\0x\0")


CB_ARGS = ("map", "key", "value", "ctx")


def test_program_btf_one_proto_per_signature():
    data, ids = program_btf([("main", ("ctx",)), ("cb_1", CB_ARGS), ("cb_2", CB_ARGS)])
    b = Btf(data, name="prog")
    funcs = [b.type(i) for i in ids]
    assert [f.name for f in funcs] == ["main", "cb_1", "cb_2"]
    assert all(f.linkage == K.FUNC_STATIC for f in funcs)
    assert funcs[1].type == funcs[2].type != funcs[0].type
    main, cb = b.type(funcs[0].type), b.type(funcs[1].type)
    assert [p.name for p in main.params] == ["ctx"]
    assert [p.name for p in cb.params] == list(CB_ARGS)
    assert b.type_name(cb.params[0].type) == "void *"
    assert b.type_name(cb.ret) == "long"
