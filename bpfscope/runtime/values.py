"""The data model the runtime hands to output: maps read back from the kernel.

A :class:`MapData` is one bpftrace map after user space has merged the
per-CPU copies: its name, which aggregation produced it, and its entries as
plain Python values.  Output modules (text, JSON, ...) format these; they
never see raw bytes.

Bucket layout of histograms (``hist_index`` / ``lhist_index``) is defined
here so the BPF code generator can compute the same index in the kernel and
the printers can label each bucket.

Log2 histogram, ``hist(v, k)`` with ``0 <= k <= 5`` (bpftrace's scheme):

* index 0 holds every negative value;
* values ``0 .. 2**k - 1`` each get their own bucket, index ``v + 1``;
* every power-of-two range ``[2**e, 2**(e+1))`` with ``e >= k`` is split
  into ``2**k`` equal buckets of width ``2**(e-k)``; ``v`` lands in
  ``1 + (e - k) * 2**k + (v >> (e - k))``.

For ``k == 0`` this is: 0 -> negatives, 1 -> the value 0, ``n >= 2`` ->
``[2**(n-2), 2**(n-1))``.  Bucket ``i >= 1`` covers
``[hist_upper(i - 1, k), hist_upper(i, k))``.

Values are unsigned 64-bit in the kernel except that a negative signed
value goes to bucket 0, so ``hist_index`` takes a Python int of either sign.

Linear histogram, ``lhist(v, min, max, step)``: index 0 is below ``min``,
``1 .. N`` are ``[min + (i-1)*step, min + i*step)`` with
``N = (max - min) // step``, and ``N + 1`` is at or above ``max``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

MAP_KINDS = ("plain", "count", "sum", "min", "max", "avg", "stats",
             "hist", "lhist", "tseries")


@dataclass(frozen=True)
class TSeriesValue:
    """One key of a ``tseries()`` map: the intervals of ``interval`` ns
    from the key's first one kept to the map's latest, each as (its start
    in wall-clock ns, its value or None where nothing was recorded)."""

    interval: int
    points: tuple[tuple[int, int | None], ...] = ()


@dataclass(frozen=True)
class AvgValue:
    """Running total and count of an ``avg()`` map entry."""

    total: int
    count: int

    @property
    def average(self) -> int:
        return int_div(self.total, self.count)


@dataclass(frozen=True)
class StatsValue:
    """Count and total of a ``stats()`` map entry."""

    count: int
    total: int

    @property
    def average(self) -> int:
        return int_div(self.total, self.count)


class Formatted:
    """Base for values that carry their own text form (stacks, symbols,
    buffers, ...).  Printers show ``text`` wherever bpftrace shows the
    resolved form; ``sort_key`` orders them among map keys."""

    __slots__ = ()

    @property
    def text(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def sort_key(self):
        return self.text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Symbolic(Formatted):
    """A value printed as a fixed string (a symbol, an enum name, an
    address already rendered, a multi-line stack)."""

    text_: str
    raw: object = None
    # JSON writes the text, not ``raw`` (see IntType.json_text)
    json_text: bool = False

    @property
    def text(self) -> str:
        return self.text_


@dataclass(frozen=True)
class Buffer(Formatted):
    """Raw bytes (``buf()``), printed with non-printable bytes as ``\\xNN``."""

    data: bytes

    @property
    def text(self) -> str:
        return self.hex_text()

    def hex_text(self, keep_ascii: bool = True, escape: bool = True) -> str:
        """``%r`` (defaults), ``%rx`` (every byte ``\\xNN``) or ``%rh``
        (``NN NN ...``)."""
        if not escape and not keep_ascii:
            return " ".join(f"{b:02x}" for b in self.data)
        return "".join(chr(b) if keep_ascii and 32 <= b < 127
                       else f"\\x{b:02x}" for b in self.data)


class Array(tuple):
    """The elements of a C array value: a tuple, so that it can be part of a
    map key, but printed as an array (``[1,2,3]``, no spaces)."""

    __slots__ = ()


class Fields(dict):
    """The members of a struct or record value, by name in their order: a
    dict that can be part of a map key (``@m[*$task]``, ``@m[(a=1, b=2)]``),
    so it is hashed by its items and must not be changed once made."""

    __slots__ = ()

    def __hash__(self):
        return hash(tuple(self.items()))


Value = Union[int, str, tuple, Formatted]


@dataclass
class MapData:
    """One map as read at print time.

    ``entries`` are ``(key, value)`` pairs; ``key`` is a tuple of the map's
    key values (``()`` for a map without keys).  ``lhist`` is
    ``(min, max, step)`` for lhist maps; ``hist_k`` is the ``k`` of
    ``hist(v, k)``.  For hist/lhist each value is ``{bucket index: count}``
    and ``sums`` holds, per key, the total of the values counted (when
    the map was read from the kernel).
    """

    name: str
    kind: str
    entries: list[tuple[tuple, object]]
    lhist: tuple[int, int, int] | None = None
    hist_k: int = 0
    sums: dict[tuple, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MAP_KINDS:
            raise ValueError(f"unknown map kind {self.kind!r}")
        if self.kind == "lhist" and self.lhist is None:
            raise ValueError("lhist map needs (min, max, step)")


def int_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def hist_index(value: int, k: int = 0) -> int:
    """Bucket index of ``value`` in ``hist(value, k)`` (see module doc)."""
    if value < 0:
        return 0
    if value < (1 << k):
        return value + 1
    shift = value.bit_length() - 1 - k
    return 1 + (shift << k) + (value >> shift)


def hist_upper(index: int, k: int = 0) -> int:
    """Exclusive upper bound of bucket ``index``; 0 for the negatives."""
    n = 1 << k
    if index <= 2 * n:
        return index
    power = (index >> k) - 1
    return (1 << power) * (n + (index & (n - 1)))


def hist_bucket_count(k: int = 0) -> int:
    """Number of buckets ``hist(v, k)`` needs for 64-bit values."""
    return hist_index((1 << 64) - 1, k) + 1


def lhist_index(value: int, lo: int, hi: int, step: int) -> int:
    """Bucket index of ``value`` in ``lhist(value, lo, hi, step)``."""
    if value < lo:
        return 0
    if value >= hi:
        return (hi - lo) // step + 1
    return (value - lo) // step + 1


def lhist_bucket_count(lo: int, hi: int, step: int) -> int:
    """Number of buckets ``lhist(v, lo, hi, step)`` needs."""
    return (hi - lo) // step + 2


def bucket_bounds(data: MapData, index: int) -> tuple[int | None, int | None]:
    """``[low, high)`` of bucket ``index`` of a hist/lhist entry of
    ``data``; None for the open end of the negatives (log2), below the
    range or at and above it (lhist)."""
    if data.kind == "lhist":
        lo, hi, step = data.lhist
        last = (hi - lo) // step + 1
        if index == 0:
            return None, lo
        if index >= last:
            return hi, None
        return lo + (index - 1) * step, lo + index * step
    if index == 0:
        return None, 0
    return hist_upper(index - 1, data.hist_k), hist_upper(index, data.hist_k)
