"""bpftrace's human-readable text output: maps, histograms, messages.

Layout follows bpftrace 0.26 (its ``src/output/text.cpp`` and the map
formatting in ``types_format.cpp``), which differs from 0.17 in a few places:
no trailing space after ``@h:``, stats printed as a record
(``{ .count = 1, .average = 3, .total = 3 }``), no blank line after
non-histogram maps, ``Attached N probes`` instead of ``Attaching N probes...``.
"""

from __future__ import annotations

import struct
import time
from typing import NamedTuple

from bpfscope.output.stream import StreamSink
from bpfscope.runtime.values import (Array, AvgValue, Formatted, MapData, StatsValue,
                                     TSeriesValue, hist_upper, int_div)

BAR_WIDTH = 52
U64_MASK = (1 << 64) - 1
_SUFFIXES = ("", "K", "M", "G", "T", "P", "E")


# ---------------------------------------------------------------- values

def format_value(v: object) -> str:
    """One value as bpftrace prints it inside maps, tuples and print()."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, Formatted):
        return v.text
    if isinstance(v, tuple) and not isinstance(v, Array):
        return "(" + ", ".join(format_value(e) for e in v) + ")"
    if isinstance(v, (list, Array)):
        # bpftrace prints arrays without spaces, unlike tuples.
        return "[" + ",".join(format_value(e) for e in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f".{k} = {format_value(e)}"
                                for k, e in v.items()) + " }"
    if v is None:
        return "null"
    return str(v)


def format_key(key: tuple) -> str:
    """The text between ``[`` and ``]`` of a map entry.

    bpftrace prints the key as a tuple and strips one pair of outer
    parentheses, so ``@m[(1, 2)]`` and ``@m[1, 2]`` print the same.
    """
    if all(type(e) is int or type(e) is str for e in key):  # the common case, fast
        s = ", ".join(map(str, key))
        if len(key) > 1 or not (s[:1] == "(" and s[-1:] == ")"):
            return s
    s = format_value(key[0]) if len(key) == 1 else format_value(key)
    if len(s) >= 2 and s[0] == "(" and s[-1] == ")":
        s = s[1:-1]
    return s


def _entry_name(name: str, key: tuple) -> str:
    return f"{name}[{format_key(key)}]" if key else name


# ---------------------------------------------------------------- sorting

def _key_fields(key: tuple) -> tuple:
    # A map keyed by one tuple value sorts by that tuple's fields.
    if len(key) == 1 and isinstance(key[0], tuple):
        return key[0]
    return key


def _field_order(v: object):
    # bpftrace sorts integer fields numerically and string fields by their
    # bytes; other field types keep their order (stable sort).
    if isinstance(v, int) and not isinstance(v, bool):
        return (0, v)
    if isinstance(v, str):
        return (1, v.encode("utf-8", "surrogateescape"))
    return (2, 0)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def sorted_entries(data: MapData) -> list[tuple[tuple, object]]:
    """Entries in bpftrace's print order (ascending by value or by key).

    bpftrace's sort is not stable; ties keep the order the runtime read
    them in here, so output is deterministic.
    """
    kind, entries = data.kind, list(data.entries)
    if kind in ("hist", "lhist"):
        # histograms with the same total follow their keys (0.26's
        # print(@h, 2) of three single-value histograms shows the last two)
        return sorted(entries, key=lambda e: (sum(e[1].values()), _key_order(e[0])))
    if kind in ("count", "sum") or (
            kind == "plain" and entries and _is_int(entries[0][1])):
        return sorted(entries, key=lambda e: e[1])
    if kind in ("min", "max"):
        # bpftrace compares min/max values as unsigned even when signed.
        return sorted(entries, key=lambda e: e[1] & U64_MASK)
    if kind in ("avg", "stats"):
        return sorted(entries, key=lambda e: e[1].average)
    return sorted(entries, key=lambda e: _key_order(e[0]))


def _key_order(key: tuple) -> tuple:
    return tuple(_field_order(f) for f in _key_fields(key))


def _top(entries: list, top: int) -> list:
    if top and len(entries) > top:
        return entries[len(entries) - top:]
    return entries


def print_entries(data: MapData, top: int = 0) -> list[tuple[tuple, object]]:
    """The entries ``print(@m, top)`` shows, in print order."""
    return _top(sorted_entries(data), top)


def format_scalar(data: MapData, value: object, div: int) -> str:
    """A non-histogram map value after ``div`` is applied."""
    if isinstance(value, StatsValue):
        return format_value({"count": value.count,
                             "average": int_div(value.average, div),
                             "total": value.total})
    if isinstance(value, AvgValue):
        return str(int_div(value.average, div))
    if _is_int(value):
        return str(int_div(value, div))
    return format_value(value)


# ---------------------------------------------------------------- histograms

class _Label:
    """A bucket bound: its text, whether it is a plain number (only plain
    numbers one apart collapse to a single-value ``[n]`` row), and its
    numeric ``value`` (what JSON output prints)."""

    __slots__ = ("text", "number", "value")

    def __init__(self, text: str, number: int | None = None,
                 value: int | None = None):
        self.text = text
        self.number = number
        self.value = number if value is None else value


def _plain(n: int) -> _Label:
    return _Label(str(n), n)


def _single(a: _Label, b: _Label) -> bool:
    return a.number is not None and b.number is not None and \
        a.number + 1 == b.number


def hist_label(index: int, k: int = 0) -> _Label:
    """Upper bound of log2 bucket ``index`` as bpftrace labels it."""
    n = 1 << k
    if index <= 2 * n:
        return _plain(index)
    power = (index >> k) - 1
    decade = power // 10
    mantissa = (1 << (power - 10 * decade)) * (n + (index & (n - 1)))
    return _Label(f"{mantissa}{_SUFFIXES[decade]}", value=hist_upper(index, k))


def lhist_label(number: int, step: int) -> _Label:
    """A linear bucket bound; K/M suffixes only when step is a multiple of
    1024."""
    if step % 1024 != 0:
        return _plain(number)
    for unit, suffix in ((1 << 20, "M"), (1 << 10, "K")):
        if number != 0 and number % unit == 0:
            return _Label(f"{int_div(number, unit)}{suffix}", value=number)
    return _Label(str(number), value=number)


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def _bar(count: int, max_count: int) -> str:
    # bpftrace scales in single precision float; mirror it so rounding at
    # bar boundaries matches.
    if max_count <= 0:
        return ""
    width = int(_f32(_f32(_f32(count) / _f32(max_count)) * BAR_WIDTH))
    return "@" * width


def _hist_rows(labels: list[_Label], lower: _Label | None,
               counts: list[int]) -> str:
    """Draw rows; ``labels[i]`` is the upper bound of row ``i`` and a row
    past the end of ``labels`` is open above."""
    max_count = max(counts, default=0)
    lines = []
    for i, count in enumerate(counts):
        if i == 0 and lower is None:
            head = f"(..., {labels[0].text})"
        else:
            lo = lower if i == 0 else labels[i - 1]
            if i >= len(labels):
                head = f"[{lo.text}, ...)"
            elif _single(lo, labels[i]):
                head = f"[{lo.text}]"
            else:
                head = f"[{lo.text}, {labels[i].text})"
        lines.append(f"{head:<16}{count:>8} |{_bar(count, max_count):<{BAR_WIDTH}}|\n")
    return "".join(lines)


def _used_range(buckets: dict[int, int]) -> tuple[int, int] | None:
    used = [i for i, c in buckets.items() if c > 0]
    return (min(used), max(used)) if used else None


class HistLayout(NamedTuple):
    """The rows a histogram prints: ``labels[i]`` is the exclusive upper
    bound of row ``i``, a row past the end of ``labels`` is open above, and
    ``lower`` is the lower bound of row 0 (``None``: open below)."""

    lower: _Label | None
    labels: list[_Label]
    counts: list[int]


def hist_layout(buckets: dict[int, int], k: int = 0,
                div: int = 1) -> HistLayout | None:
    """Rows of a log2 histogram, zero buckets at either end left out
    (``None`` when every bucket is zero)."""
    span = _used_range(buckets)
    if span is None:
        return None
    lo, hi = span
    lower = None
    if lo != 0:
        lower = _plain(lo - 1) if lo - 1 <= 2 << k else hist_label(lo - 1, k)
    labels = [hist_label(i, k) for i in range(lo, hi + 1)]
    counts = [buckets.get(i, 0) // div for i in range(lo, hi + 1)]
    return HistLayout(lower, labels, counts)


def lhist_layout(buckets: dict[int, int], lo_v: int, hi_v: int,
                 step: int) -> HistLayout | None:
    """Rows of a linear histogram (bpftrace ignores div for these)."""
    span = _used_range(buckets)
    if span is None:
        return None
    lo, hi = span
    lower = None if lo == 0 else lhist_label(lo_v + (lo - 1) * step, step)
    labels = [lhist_label(lo_v + i * step, step) for i in range(lo, hi + 1)
              if lo_v + i * step <= hi_v]
    counts = [buckets.get(i, 0) for i in range(lo, hi + 1)]
    return HistLayout(lower, labels, counts)


def bucket_layout(data: MapData, buckets: dict[int, int],
                  div: int) -> HistLayout | None:
    """The rows of one hist/lhist entry of ``data``."""
    if data.kind == "lhist":
        return lhist_layout(buckets, *data.lhist)
    return hist_layout(buckets, data.hist_k, div)


def _layout_rows(layout: HistLayout | None) -> str:
    if layout is None:
        return ""
    return _hist_rows(layout.labels, layout.lower, layout.counts)


def format_hist(buckets: dict[int, int], k: int = 0, div: int = 1) -> str:
    """Rows of a log2 histogram, zero buckets at either end left out."""
    return _layout_rows(hist_layout(buckets, k, div))


def format_lhist(buckets: dict[int, int], lo_v: int, hi_v: int,
                 step: int) -> str:
    """Rows of a linear histogram (bpftrace ignores div for these)."""
    return _layout_rows(lhist_layout(buckets, lo_v, hi_v, step))


def format_buckets(data: MapData, buckets: dict[int, int], div: int) -> str:
    return _layout_rows(bucket_layout(data, buckets, div))


# ---------------------------------------------------------------- time series

GRAPH_WIDTH = 53  # the columns between a row's time and its value
_TS_PAD = 21      # where the right-hand bound of the scale ends, less 32
# the unit of the interval -> its name after hh:mm:ss and its digits
_TS_UNITS = ((1_000_000_000, "", 0), (1_000_000, "ms", 3), (1_000, "\u03bcs", 6), (0, "ns", 9))


def _ts_unit(interval: int) -> tuple[str, int]:
    """The unit the times are shown to: the largest at most the interval
    between two rows (ns for one row, whose interval is 0)."""
    return next((name, digits) for least, name, digits in _TS_UNITS if interval >= least)


def _ts_time(wall_ns: int, digits: int) -> str:
    """A row's time: local hh:mm:ss and the fraction to the unit."""
    secs, ns = divmod(wall_ns, 1_000_000_000)
    text = time.strftime("%H:%M:%S", time.localtime(secs))
    return text + (f".{ns // 10 ** (9 - digits):0{digits}d}" if digits else "")


def _ts_offset(v: int, lo: int, hi: int, width: int) -> int:
    # bpftrace scales in single-precision floats
    return int(_f32(_f32(float(width) * _f32(float(v - lo))) / _f32(float(hi - lo))))


def format_tseries(ts: TSeriesValue) -> str:
    """A time series as bpftrace 0.26's text graph: the scale above and
    below, a row per interval (its start, a '*' at its value, the value;
    '-' for an interval nothing was recorded in) and a '.' column at 0
    when the scale spans it."""
    if not ts.points:
        return "<no data>\n"
    vals = [v for _, v in ts.points if v is not None]
    lo, hi = min(vals), max(vals)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    first, last = ts.points[0][0], ts.points[-1][0]
    unit, digits = _ts_unit((last - first) // max(1, len(ts.points) - 1))
    time_fmt = "hh:mm:ss" + (f".{unit}" if unit else "")
    time_size = 8 + (1 + digits if digits else 0)
    scale = " " * time_size + " " + str(lo).ljust(_TS_PAD) + str(hi).rjust(GRAPH_WIDTH - _TS_PAD)
    out = [scale + "\n", time_fmt.ljust(time_size + 1) + "|" + "_" * (GRAPH_WIDTH - 2)
           + "|\n"]
    zero = _ts_offset(0, lo, hi, GRAPH_WIDTH) if lo < 0 < hi else 0
    for start, v in ts.points:
        line = ["|"] + [" "] * (GRAPH_WIDTH - 2) + ["|"]
        if zero > 0:
            line[zero] = "."
        if v is None:
            tail = " -"
        else:
            line[max(0, min(GRAPH_WIDTH - 1, _ts_offset(v, lo, hi, GRAPH_WIDTH - 1)))] = "*"
            tail = f" {v}"
        out.append(f"{_ts_time(start, digits)} {''.join(line)}{tail}\n")
    out.append(" " * time_size + " v" + "_" * (GRAPH_WIDTH - 2) + "v\n")
    out.append(scale + "\n")
    return "".join(out)


# ---------------------------------------------------------------- maps

def format_map(data: MapData, top: int = 0, div: int = 1) -> str:
    """One map as ``print(@m, top, div)`` prints it ('' when empty)."""
    div = div or 1
    out = []
    for key, value in print_entries(data, top):
        name = _entry_name(data.name, key)
        if data.kind in ("hist", "lhist"):
            out.append(f"{name}:\n{format_buckets(data, value, div)}\n")
        elif data.kind == "tseries":
            out.append(f"{name}:\n{format_tseries(value)}\n")
        else:
            out.append(f"{name}: {format_scalar(data, value, div)}\n")
    return "".join(out)


def format_maps_at_exit(maps: list[MapData]) -> str:
    """Every map, sorted by name, after the two newlines bpftrace prints
    when the program ends."""
    return "\n\n" + "".join(format_map(m) for m in exit_order(maps))


def exit_order(maps: list[MapData]) -> list[MapData]:
    """Maps in the order bpftrace prints them when the program ends."""
    return sorted(maps, key=lambda m: m.name)


# ---------------------------------------------------------------- sink

class TextOutput(StreamSink):
    """An :class:`~bpfscope.runtime.sink.OutputSink` writing bpftrace's text
    format; diagnostics go to ``err``."""

    def attached(self, n_probes: int) -> None:
        noun = "probe" if n_probes == 1 else "probes"
        self.err.write(f"Attached {n_probes} {noun}\n")

    def printf(self, text: str) -> None:
        self.out.write(text)
    # the texts of several printf records may come joined, in one call
    # (runtime.session's fast path for simple formats)
    printf.joins = True

    def errorf(self, text: str, filename: str, line: int, col: int, end_col: int) -> None:
        """errorf(): the message at its place in the script, on stderr."""
        self.err.write(f"{filename}:{line}:{col}-{end_col}: ERROR: {text}\n")

    def warnf(self, text: str, filename: str, line: int, col: int, end_col: int) -> None:
        self.err.write(f"{filename}:{line}:{col}-{end_col}: WARNING: {text}\n")

    def map(self, data: MapData, top: int = 0, div: int = 1) -> None:
        self.out.write(format_map(data, top, div))

    def maps_at_exit(self, maps: list[MapData]) -> None:
        self.out.write(format_maps_at_exit(maps))

    def benchmark_results(self, results: list[tuple[str, int]]) -> None:
        from ..runtime.bench import table
        self.out.write("\n\n" + table(results))

    def join(self, text: str) -> None:
        self.out.write(text + "\n")

    def cat(self, text: str) -> None:
        self.out.write(text)

    def value(self, v: object) -> None:
        """print() of a single value."""
        self.out.write(format_value(v) + "\n")

    def time(self, text: str) -> None:
        self.out.write(text)

