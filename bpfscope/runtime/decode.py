"""Bytes from the kernel -> Python values, by bpftrace type.

The layout is the one sema.types defines: 8-byte integers, NUL-padded
strings, tuples with 8-byte aligned elements. A type that prints as text
(a user name, a symbol, an address) says which itself (``show``,
``show_bytes``).
"""

from __future__ import annotations

import struct

from ..sema import types as T
from ..sema.valuetext import signal_description  # noqa: F401 - its home before sema.valuetext
from .values import Array, Buffer, Fields, Symbolic


def decode(t: T.Type, data: bytes, off: int = 0, resolver=None, trailer: str = ""):
    """``resolver`` turns stack frames into stacks (runtime.stackresolve);
    ``trailer`` ends a string that fills its whole buffer, as bpftrace
    marks one it takes to be cut short (str_trunc_trailer)."""
    if isinstance(t, T.StackType):
        nr = min(int.from_bytes(data[off:off + 8], "little"), t.limit)
        pid = int.from_bytes(data[off + 8:off + 16], "little") if t.kind == "user" else 0
        frames = bytes(data[off + t.header:off + t.header + 8 * nr])
        if resolver is None:
            return Symbolic(f"[stack of {nr} frames]", frames)
        return resolver.stack(t, frames, pid)
    if isinstance(t, T.UserSymType):
        addr = int.from_bytes(data[off:off + 8], "little")
        pid = int.from_bytes(data[off + 8:off + 16], "little")
        from .usyms import user_symbols
        return Symbolic(user_symbols().format(pid, addr, show_offset=False), addr)
    shown = t.show_bytes(data, off)
    if shown is not None:  # ntop's addresses, macaddr's
        return Symbolic(*shown)
    if isinstance(t, (T.StructType, T.ArrayType)):
        return decode_c(t, data, off)
    if isinstance(t, T.BufferType):
        n = min(u64(data, off), t.length)
        return Buffer(bytes(data[off + 8:off + 8 + n]))
    if isinstance(t, T.StringType):
        raw = data[off:off + t.length]
        end = raw.find(b"\0")
        if end < 0:
            return raw.decode("utf-8", errors="surrogateescape") + trailer
        return raw[:end].decode("utf-8", errors="surrogateescape")
    if isinstance(t, T.TupleType):
        vals = tuple(decode(e, data, off + o, resolver, trailer)
                     for e, o in zip(t.elems, t.offsets))
        return Fields(zip(t.names, vals)) if t.names else vals
    if t.is_int():
        v = int.from_bytes(data[off:off + 8], "little", signed=False)
        text = t.show(v)
        if text is not None:  # username, strftime, strerror, ksym, ...
            return Symbolic(text, v)
        if isinstance(t, T.BoolType):
            return bool(v & 0xFF)
        return to_int(v, t)
    raise TypeError(f"cannot decode {t}")


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


_SPECIAL_INTS = (T.UsernameType, T.TimestampType, T.SymbolicInt, T.BoolType, T.EnumType)


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
        elif t.is_int() and not isinstance(t, _SPECIAL_INTS) and not isinstance(t, T.TupleType):
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
