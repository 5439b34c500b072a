"""pprof profiles: a gzip-compressed ``perftools.profiles.Profile`` protobuf.

The message layout follows pprof's ``profile.proto``; the encoder is a
small hand-written one (no protobuf package), enough for this message:

* varints (base 128, low group first); ``int64`` fields that are negative
  take the 10-byte two's complement form, as protobuf encodes them;
* a field key is ``(field number << 3) | wire type``: 0 for varints, 2 for
  length-delimited data (strings, nested messages, packed repeated ints);
* repeated integer fields are packed (one length-delimited field);
* scalar fields equal to 0 are left out (proto3 defaults).

Samples come in root first (see :mod:`bpfscope.output.folded`); pprof wants
``Sample.location_id`` leaf first.  bpftrace stacks are already symbolised
text, so every distinct frame name is one ``Function`` and one ``Location``
(a single ``Line`` pointing at the function, no address, no mapping), both
with ids counting from 1 in order of first appearance.  The string table
starts with ``""`` as the format requires.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import BinaryIO

from bpfscope.output.folded import Sample, merge_samples

# Wire types.
VARINT = 0
LEN = 2

U64 = (1 << 64) - 1


def encode_varint(n: int) -> bytes:
    """Base-128 varint of ``n``; negative values as 64-bit two's complement."""
    if n < 0:
        n &= U64
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def field_key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def field_varint(number: int, value: int) -> bytes:
    """A varint field; empty when ``value`` is 0 (the proto3 default)."""
    if not value:
        return b""
    return field_key(number, VARINT) + encode_varint(value)


def field_bytes(number: int, data: bytes) -> bytes:
    """A length-delimited field (always written, even when empty: used for
    repeated strings and messages, where an empty element still counts)."""
    return field_key(number, LEN) + encode_varint(len(data)) + data


def field_packed(number: int, values: Iterable[int]) -> bytes:
    """A packed repeated integer field; empty when there are no values."""
    body = b"".join(encode_varint(v) for v in values)
    return field_bytes(number, body) if body else b""


class _Strings:
    """The profile's string table: index 0 is ``""``."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}
        self.table: list[str] = [""]

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.table)
            self.table.append(s)
        return i


def _value_type(strings: _Strings, vt: tuple[str, str]) -> bytes:
    kind, unit = vt
    return field_varint(1, strings(kind)) + field_varint(2, strings(unit))


def encode_profile(samples: Iterable[Sample],
                   sample_type: tuple[str, str] = ("samples", "count"),
                   period_type: tuple[str, str] | None = None,
                   period: int = 0,
                   time_nanos: int = 0,
                   duration_nanos: int = 0,
                   comments: Iterable[str] = ()) -> bytes:
    """The uncompressed ``Profile`` message.

    ``sample_type`` names the one value of each sample (``("samples",
    "count")`` for ``count()``; e.g. ``("cpu", "nanoseconds")`` for a
    ``sum()`` of times).  ``period_type``/``period`` describe the sampling
    (e.g. ``("cpu", "nanoseconds")`` and 10_000_000 for ``profile:hz:99``'s
    ~10 ms); they are written when ``period_type`` is given.
    """
    strings = _Strings()
    out = bytearray()
    out += field_bytes(1, _value_type(strings, sample_type))

    func_ids: dict[str, int] = {}
    functions: list[bytes] = []
    locations: list[bytes] = []

    def location(name: str) -> int:
        fid = func_ids.get(name)
        if fid is None:
            fid = func_ids[name] = len(func_ids) + 1
            functions.append(field_varint(1, fid) +
                             field_varint(2, strings(name)) +
                             field_varint(3, strings(name)))
            # Location ids equal function ids: one location per function.
            line = field_varint(1, fid)
            locations.append(field_varint(1, fid) + field_bytes(4, line))
        return fid

    for stack, count in merge_samples(samples):
        ids = [location(name) for name in stack]
        ids.reverse()                               # leaf first
        out += field_bytes(2, field_packed(1, ids) + field_packed(2, [count]))
    for loc in locations:
        out += field_bytes(4, loc)
    for fn in functions:
        out += field_bytes(5, fn)

    comment_ids = [strings(c) for c in comments]
    tail = bytearray()
    tail += field_varint(9, time_nanos)
    tail += field_varint(10, duration_nanos)
    if period_type is not None:
        tail += field_bytes(11, _value_type(strings, period_type))
        tail += field_varint(12, period)
    tail += field_packed(13, comment_ids)

    # The string table is complete only now; field order on the wire does
    # not matter to a protobuf reader.
    for s in strings.table:
        out += field_bytes(6, s.encode("utf-8"))
    out += tail
    return bytes(out)


def to_pprof(samples: Iterable[Sample], **options) -> bytes:
    """The gzip-compressed profile (what ``pprof`` reads from disk).
    Options are those of :func:`encode_profile`."""
    # mtime=0 keeps the output byte-for-byte reproducible.
    return gzip.compress(encode_profile(samples, **options), mtime=0)


def write_pprof(samples: Iterable[Sample], out: BinaryIO | str, **options) -> None:
    """Write the profile to a binary file object or a path."""
    data = to_pprof(samples, **options)
    if isinstance(out, str):
        with open(out, "wb") as f:
            f.write(data)
    else:
        out.write(data)
