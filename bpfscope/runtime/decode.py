"""Bytes from the kernel -> Python values, by bpftrace type.

The layout is the one sema.types defines: 8-byte integers, NUL-padded
strings, tuples with 8-byte aligned elements.
"""

from __future__ import annotations

from ..sema import types as T


def decode(t: T.Type, data: bytes, off: int = 0):
    if isinstance(t, T.StringType):
        raw = data[off:off + t.length]
        end = raw.find(b"\0")
        return (raw if end < 0 else raw[:end]).decode("utf-8", errors="replace")
    if isinstance(t, T.TupleType):
        return tuple(decode(e, data, off + o) for e, o in zip(t.elems, t.offsets))
    if t.is_int():
        v = int.from_bytes(data[off:off + 8], "little", signed=False)
        return to_int(v, t)
    raise TypeError(f"cannot decode {t}")


def to_int(v: int, t: T.Type) -> int:
    """Interpret a raw 64-bit value with the width and sign of ``t``."""
    bits = getattr(t, "bits", 64)
    v &= (1 << bits) - 1
    if getattr(t, "signed", False) and v >> (bits - 1):
        v -= 1 << bits
    return v


def decode_key(key_t: T.TupleType | None, data: bytes) -> tuple:
    """A map key as the tuple of its elements (() for a map without keys)."""
    if key_t is None or not key_t.elems:
        return ()
    return decode(key_t, data)


def s64(data: bytes, off: int = 0) -> int:
    return int.from_bytes(data[off:off + 8], "little", signed=True)


def u64(data: bytes, off: int = 0) -> int:
    return int.from_bytes(data[off:off + 8], "little", signed=False)
