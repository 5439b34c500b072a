"""Decoding kernel bytes into values: the string truncation trailer, byte
buffers, arrays and MAC addresses."""

import pytest

from bpfscope.runtime.decode import decode, decode_key, signal_description
from bpfscope.runtime.values import Array, Buffer, Fields
from bpfscope.sema import types as T


def test_a_string_filling_its_buffer_gets_the_trailer():
    s8 = T.StringType(8)
    assert decode(s8, b"abcdefgh", 0, trailer="..") == "abcdefgh.."
    assert decode(s8, b"abcdefg\0", 0, trailer="..") == "abcdefg"   # NUL: whole
    assert decode(s8, b"abcdefgh", 0) == "abcdefgh"                  # no trailer asked
    key = T.TupleType((T.INT64, s8))
    raw = (5).to_bytes(8, "little") + b"12345678"
    assert decode_key(key, raw, trailer="<cut>") == (5, "12345678<cut>")


def test_buffers_arrays_and_mac_addresses():
    raw = (3).to_bytes(8, "little") + b"a\x01bzzz"
    assert decode(T.BufferType(6), raw) == Buffer(b"a\x01b")
    assert decode(T.ArrayType(T.UINT8, 4), bytes([127, 0, 0, 1])) == Array((127, 0, 0, 1))
    assert decode(T.ArrayType(T.IntType(16, True), 2), b"\xff\xff\x02\x00") == Array((-1, 2))
    assert decode(T.MacAddrType(), bytes([0x18, 0xc0, 0x4d, 8, 0x2e, 0xbb])).text == \
        "18:C0:4D:08:2E:BB"


def test_structs_and_records_decode_to_hashable_fields():
    # map keys are dict keys: a struct or record in one must hash
    rec = T.TupleType((T.INT64, T.StringType(4)), ("a", "b"))
    raw = (7).to_bytes(8, "little") + b"xy\0\0" + bytes(4)
    key = decode_key(T.TupleType((rec, T.INT64)), raw + (9).to_bytes(8, "little"))
    assert key == ({"a": 7, "b": "xy"}, 9)
    assert {key: 1}[(Fields(a=7, b="xy"), 9)] == 1
    assert list(key[0]) == ["a", "b"]


def test_signal_descriptions():
    assert [signal_description(n) for n in (0, 2, 9, 17, 32, 34, 64, 65, -1)] == [
        "Unknown signal 0", "Interrupt", "Killed", "Child exited", "Unknown signal 32",
        "Real-time signal 0", "Real-time signal 30", "N/A", "N/A"]


def test_a_value_type_decoded_by_a_decoder_of_its_own():
    """A type whose value needs user-space work to become a Python value
    registers its decoder (runtime.decode.decoder), as usym's family does;
    its subclasses take it, inside tuples too, until they have their own."""
    from dataclasses import dataclass

    from bpfscope.runtime import decode as D

    @dataclass(frozen=True)
    class Celsius(T.Type):
        size = 8

    @dataclass(frozen=True)
    class Kelvin(Celsius):
        pass

    @D.decoder(Celsius)
    def decode_celsius(t, data, off, ctx):
        return int.from_bytes(data[off:off + 8], "little") / 10

    try:
        raw = (215).to_bytes(8, "little")
        assert D.decode(Celsius(), raw) == 21.5
        assert D.decode(T.TupleType((T.INT64, Kelvin())), (7).to_bytes(8, "little") + raw) == (7, 21.5)
        with pytest.raises(ValueError, match="Celsius has a decoder already"):
            D.decoder(Celsius)(lambda t, data, off, ctx: 0)
    finally:
        del D._DECODERS[Celsius]
        D._FOUND.clear()
    with pytest.raises(TypeError, match="cannot decode"):
        D.decode(Celsius(), raw)


def test_enum_values_decode_to_their_names():
    e = T.EnumType(64, True, "E", (("ONE", 1), ("TWO", 2)))
    one, other = decode(e, (1).to_bytes(8, "little")), decode(e, (9).to_bytes(8, "little"))
    assert (one.text, one.raw, other) == ("ONE", 1, 9)
    key = decode_key(T.TupleType((e, T.INT64)), (2).to_bytes(8, "little") * 2)
    assert (key[0].text, key[1]) == ("TWO", 2)


def test_float_members_of_a_struct_decode_to_none():
    # printed as null in text and JSON, as bpftrace 0.26 prints them
    from bpfscope.sema.typelib import TypeLibrary
    from bpfscope.lang.cdecl import parse_definitions
    tl = TypeLibrary()
    tl.define(parse_definitions("struct F { int m; float f; int z; };"))
    raw = (2).to_bytes(4, "little") + b"\x00\x00\x80\x3f" + (5).to_bytes(4, "little")
    assert decode(tl.named("struct F"), raw) == {"m": 2, "f": None, "z": 5}
