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

Frames with debug info (``show_debug_info``) are read back into pprof's
tables: ``func@file.c:12`` is the ``Function`` ``func`` of ``filename``
``file.c`` and a ``Line`` 12; frames ``[inlined] f@file.c:7`` on the leaf
side of a frame are inlined into it, so they share its ``Location``, one
``Line`` each, the innermost first and the caller last, as pprof orders
them.  A function is one per (name, file), a location one per chain of
lines.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from typing import BinaryIO

from bpfscope.output.folded import Sample, merge_samples

# Wire types.
VARINT = 0
LEN = 2

U64 = (1 << 64) - 1

INLINED = "[inlined] "
_SOURCE = re.compile(r"^(.*)@(.+):(\d+)$")


def frame_parts(frame: str) -> tuple[str, bool, str, int]:
    """(function, inlined, file, line) of a frame name: 'f', '[inlined]
    f@a.c:7', 'main@a.c:33' (file '' and line 0 where it has none)."""
    inlined = frame.startswith(INLINED)
    if inlined:
        frame = frame[len(INLINED):]
    m = _SOURCE.match(frame)
    if m is None:
        return frame, inlined, "", 0
    return m.group(1), inlined, m.group(2), int(m.group(3))


def _location_groups(stack: list[str]) -> list[list[tuple[str, bool, str, int]]]:
    """Root-first frames grouped into locations: each frame with the
    inlined frames after it (nearer the leaf), root first."""
    groups: list[list] = []
    for frame in stack:
        parts = frame_parts(frame)
        if parts[1] and groups:
            groups[-1].append(parts)
        else:
            groups.append([parts])
    return groups


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

    func_ids: dict[tuple[str, str], int] = {}
    loc_ids: dict[tuple, int] = {}
    functions: list[bytes] = []
    locations: list[bytes] = []

    def function(name: str, file: str) -> int:
        fid = func_ids.get((name, file))
        if fid is None:
            fid = func_ids[(name, file)] = len(func_ids) + 1
            functions.append(field_varint(1, fid) +
                             field_varint(2, strings(name)) +
                             field_varint(3, strings(name)) +
                             field_varint(4, strings(file)))
        return fid

    def location(group: list) -> int:
        # the innermost inlined function first, its caller last
        lines = tuple((function(name, file), line)
                      for name, _, file, line in reversed(group))
        lid = loc_ids.get(lines)
        if lid is None:
            lid = loc_ids[lines] = len(loc_ids) + 1
            body = b"".join(field_bytes(4, field_varint(1, f) + field_varint(2, n))
                            for f, n in lines)
            locations.append(field_varint(1, lid) + body)
        return lid

    for stack, count in merge_samples(samples):
        ids = [location(g) for g in _location_groups(stack)]
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
