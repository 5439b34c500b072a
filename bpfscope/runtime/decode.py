"""Bytes from the kernel -> Python values, by bpftrace type.

The layout is the one sema.types defines: 8-byte integers, NUL-padded
strings, tuples with 8-byte aligned elements. Decoding dispatches on the
type's class through one table (:func:`decoder` registers an entry); a
type that prints as text (a user name, a symbol, an address) says which
itself (``show``, ``show_bytes``), and the values decoded carry their own
text form (runtime.values.Formatted) for the printers.
"""

from __future__ import annotations

import struct
from typing import Callable, NamedTuple

from ..sema import types as T
from ..sema.valuetext import signal_description  # noqa: F401 - its home before sema.valuetext
from .values import Array, Buffer, Fields, Symbolic


class Context(NamedTuple):
    """What a decoder may need beyond the bytes: ``resolver`` turns stack
    frames into stacks (runtime.stackresolve); ``trailer`` ends a string
    that fills its whole buffer, as bpftrace marks one it takes to be cut
    short (str_trunc_trailer)."""
    resolver: object = None
    trailer: str = ""


Decoder = Callable[[T.Type, bytes, int, Context], object]

# By type class; a class without an entry takes its nearest base's
_DECODERS: dict[type, Decoder] = {}
_FOUND: dict[type, Decoder] = {}


def decoder(*classes: type) -> Callable[[Decoder], Decoder]:
    """Register the decorated function as the decoder of values of these
    sema.types classes. The core types are registered below; a function
    family whose value needs user-space work to decode (usym's symbol
    lookup) registers its own type's next to its record."""
    def add(fn: Decoder) -> Decoder:
        for cls in classes:
            if _DECODERS.get(cls, fn) is not fn:
                raise ValueError(f"{cls.__name__} has a decoder already")
            _DECODERS[cls] = fn
        _FOUND.clear()
        return fn
    return add


def decode(t: T.Type, data: bytes, off: int = 0, resolver=None, trailer: str = ""):
    """The Python value of the ``t`` at ``data[off:]``."""
    return decode_in(t, data, off, Context(resolver, trailer))


def decode_in(t: T.Type, data: bytes, off: int, ctx: Context):
    fn = _decoder_of(type(t))
    if fn is None:
        raise TypeError(f"cannot decode {t}")
    return fn(t, data, off, ctx)


def _decoder_of(cls: type) -> Decoder | None:
    fn = _FOUND.get(cls)
    if fn is None:
        fn = next((_DECODERS[c] for c in cls.__mro__ if c in _DECODERS), None)
        if fn is not None:
            _FOUND[cls] = fn
    return fn


def is_plain_int(t: T.Type) -> bool:
    """Whether values of ``t`` decode as bare numbers (no text form, no
    decoder of their own): the test of the struct-based fast paths."""
    return (t.is_int() and _decoder_of(type(t)) is _int
            and type(t).show is T.IntType.show)


@decoder(T.Type)
def _text_type(t: T.Type, data: bytes, off: int, ctx: Context):
    """A type that prints as text (ntop's addresses, macaddr's) says so
    itself."""
    shown = t.show_bytes(data, off)
    if shown is None:
        raise TypeError(f"cannot decode {t}")
    return Symbolic(*shown)


@decoder(T.StackType)
def _stack(t: T.StackType, data: bytes, off: int, ctx: Context):
    if t.ids:  # an id into a stack-trace map (codegen.stackids)
        sid = int.from_bytes(data[off:off + 8], "little", signed=True)
        pid = int.from_bytes(data[off + 8:off + 16], "little") if t.kind == "user" else 0
        if ctx.resolver is None:
            return Symbolic(f"[stack id {sid}]", sid)
        return ctx.resolver.stack_by_id(t, sid, pid)
    nr = min(int.from_bytes(data[off:off + 8], "little"), t.limit)
    pid = int.from_bytes(data[off + 8:off + 16], "little") if t.kind == "user" else 0
    frames = bytes(data[off + t.header:off + t.header + t.elem * nr])
    if ctx.resolver is None:
        return Symbolic(f"[stack of {nr} frames]", frames)
    return ctx.resolver.stack(t, frames, pid)


@decoder(T.StructType, T.ArrayType)
def _c_layout(t: T.Type, data: bytes, off: int, ctx: Context):
    return decode_c(t, data, off)


@decoder(T.BufferType)
def _buffer(t: T.BufferType, data: bytes, off: int, ctx: Context):
    n = min(u64(data, off), t.length)
    return Buffer(bytes(data[off + 8:off + 8 + n]))


@decoder(T.StringType)
def _string(t: T.StringType, data: bytes, off: int, ctx: Context):
    raw = data[off:off + t.length]
    end = raw.find(b"\0")
    if end < 0:
        return raw.decode("utf-8", errors="surrogateescape") + ctx.trailer
    return raw[:end].decode("utf-8", errors="surrogateescape")


@decoder(T.TupleType)
def _tuple(t: T.TupleType, data: bytes, off: int, ctx: Context):
    vals = tuple(decode_in(e, data, off + o, ctx) for e, o in zip(t.elems, t.offsets))
    return Fields(zip(t.names, vals)) if t.names else vals


@decoder(T.IntType)
def _int(t: T.IntType, data: bytes, off: int, ctx: Context):
    v = int.from_bytes(data[off:off + 8], "little", signed=False)
    text = t.show(v)
    if text is not None:  # username, strftime, strerror, ksym, ...
        return Symbolic(text, v, t.json_text)
    return to_int(v, t)


@decoder(T.BoolType)
def _bool(t: T.BoolType, data: bytes, off: int, ctx: Context):
    return bool(data[off] & 0xFF)


def decode_c(t: T.Type, data: bytes, off: int, bit_offset: int = 0, bits: int = 0):
    """A value in C layout (struct members, array elements): a struct as a
    dict of its members, an array as a list, char arrays as strings."""
    if isinstance(t, T.StructType):
        from ..sema.typelib import members_of
        return Fields((m.name, decode_c(m.type, data, off + m.offset, m.bit_offset, m.bits))
                      for m in members_of(t))
    if isinstance(t, T.ArrayType):
        return Array(decode_c(t.elem, data, off + i * t.elem_size) for i in range(t.count))
    if isinstance(t, T.StringType):
        return _cstr(data[off:off + t.length])
    if isinstance(t, T.FloatType):
        return None     # printed as null, as bpftrace 0.26 prints it
    size = T.c_size(t)
    if bits:
        raw = int.from_bytes(data[off:off + (bit_offset + bits + 7) // 8], "little")
        # unsigned whatever the type, as bpftrace 0.26 reads bitfields
        return (raw >> bit_offset) & ((1 << bits) - 1)
    v = int.from_bytes(data[off:off + size], "little", signed=t.signed)
    return bool(v) if isinstance(t, T.BoolType) else v


def to_int(v: int, t: T.Type) -> int:
    """Interpret a raw 64-bit value with the width and sign of ``t``."""
    bits = getattr(t, "bits", 64)
    v &= (1 << bits) - 1
    if getattr(t, "signed", False) and v >> (bits - 1):
        v -= 1 << bits
    return v


def decode_key(key_t: T.TupleType | None, data: bytes, resolver=None,
               trailer: str = "") -> tuple:
    """A map key as the tuple of its elements (() for a map without keys)."""
    if key_t is None or not key_t.elems:
        return ()
    return decode(key_t, data, 0, resolver, trailer)


def s64(data: bytes, off: int = 0) -> int:
    return int.from_bytes(data[off:off + 8], "little", signed=True)


def u64(data: bytes, off: int = 0) -> int:
    return int.from_bytes(data[off:off + 8], "little", signed=False)


def compile_decoder(layout: T.TupleType, resolver=None):
    """A function ``(data, off) -> tuple`` equal to ``decode(layout, ...)``
    but built on one struct.Struct when every element is a plain integer
    or a string: records of printf are decoded once per event."""
    fields, fixups = [], []
    for t in layout.elems:
        size = T.align8(t.size)
        if isinstance(t, T.StringType):
            fields.append(f"{t.length}s{size - t.length}x")
            fixups.append(_cstr)
        elif is_plain_int(t):
            bits = getattr(t, "bits", 64)
            fields.append("q" if t.signed else "Q")
            fixups.append(None if bits == 64 else (lambda v, t=t: to_int(v, t)))
        else:
            return lambda data, off: decode(layout, data, off, resolver)
    st = struct.Struct("<" + "".join(fields))
    if all(f is None for f in fixups):
        return st.unpack_from
    return lambda data, off: tuple(v if f is None else f(v)
                                   for f, v in zip(fixups, st.unpack_from(data, off)))


def _cstr(raw: bytes) -> str:
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", errors="surrogateescape")
