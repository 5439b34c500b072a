"""bpftrace's ``-f json`` output: one JSON record per line (NDJSON).

Layout follows bpftrace 0.26 (``src/output/json.cpp``).  Every record is
``{"type": "<type>", "data": <data>}`` on its own line, with ``", "``
between the members of an object and ``": "`` after each key, while arrays
have no spaces (``[1,2]``).  The types:

``printf``, ``time``, ``join``, ``cat``, ``syscall``
    ``data`` is the already formatted text.
``value``
    ``print()`` of one value that is not a map.
``map`` / ``hist`` / ``stats``
    ``data`` is ``{"@name": V}``; ``hist`` for hist/lhist maps, ``stats``
    for stats **and avg** maps (bpftrace classes both as stats), ``map``
    otherwise.  ``V`` is the value of a map without keys, else an object
    keyed by the key as the text output prints it, without the tuple's
    outer parentheses and with every space removed (``"a b", 2`` ->
    ``"ab,2"``).
``tseries``
    for tseries() maps: ``V`` is an array of the intervals something was
    recorded in, ``{"interval_start":"2026-12-03 19:20:01.100000000",
    "value":5}`` (no spaces, as bpftrace writes these): the interval's
    start in UTC to the nanosecond, as C++'s chrono prints a time point.
``attached_probes`` / ``lost_events``
    ``{"type": "attached_probes", "count": N, "data": {"probes": N}}`` and
    ``{"type": "lost_events", "count": N, "data": {"events": N}}``.
``missed_events`` (bpfscope's own; bpftrace 0.26 has no such record)
    ``{"type": "missed_events", "count": N, "data": {"probe": "kprobe:f",
    "events": N, "reason": "kprobe"}}`` at exit, one per probe whose events
    the kernel skipped: ``reason`` is ``recursion`` (its program was
    already running on that CPU: bpf_prog_info's recursion_misses) or
    ``kprobe`` (the kprobe's own nmissed). The text output says the same
    as a ``WARNING:`` on stderr.
``stack_errors`` / ``truncated_strings`` (bpfscope's own, shaped the same way)
    at exit, one per place in the script that dropped something:
    ``{"type": "stack_errors", "count": N, "data": {"stack": "ustack",
    "stacks": N, "filename": "stdin", "line": 1, "col": 20}}`` for stacks
    bpf_get_stack could not read (kept as empty stacks), and
    ``{"type": "truncated_strings", "count": N, "data": {"function": "str",
    "strings": N, "max_strlen": 64, "filename": ..., "line": ..., "col":
    ...}}`` for strings str() cut at max_strlen (likewise ``join``, ``buf``
    and tracepoint string fields such as ``args.filename``). A full map is a
    ``helper_error`` of ``map_update_elem`` (retcode -7), once per place.
``runtime_error`` / ``helper_error`` / ``errorf`` / ``warnf``
    ``msg`` (and for helper errors ``helper`` and ``retcode``) plus the
    source location as ``filename``, ``line``, ``col``; no ``data``.

Warnings and notes of the compile or the attach (a skipped probe, a
uprobe placed after its first instruction) are not among stdout's
records: bpftrace 0.26 has none for them, so stdout holds only the
records above. They go to stderr, as bpftrace writes them there, but as
records of their own (``warning``/``note``, located like warnf's when
they have a place) so a program reading -f json output reads them too.

Values: integers a double cannot hold exactly are strings
(``"18446744073709551615"``); tuples and arrays are JSON arrays, records
are objects, ``buf()`` values are arrays of signed byte values, and a
:class:`~bpfscope.runtime.values.Symbolic` with an integer ``raw`` (an enum
or pointer) is written as that number, as bpftrace writes symbolic values.

A histogram is an array of buckets over the rows the text output prints:
``{"min": lo, "max": hi, "count": n}`` with ``hi`` the bucket's exclusive
upper bound minus one; the bucket of negative values (log2) or below the
range (lhist) has no ``min``, the bucket at or above an lhist's max has no
``max``.

Warnings and fatal errors that are not tied to a running probe go to stderr
as text (``WARNING: ...``, ``ERROR: ...``), as bpftrace's logger writes them
regardless of the output format.

Differences from bpftrace 0.26, on purpose:

* bpftrace escapes every byte >= 0x80 of a string as ``\\uffffffXX`` (a
  sign-extended ``char`` on x86; invalid JSON) and leaves its stream in
  hex mode afterwards; here non-ASCII text is written as is (what
  bpftrace does where ``char`` is unsigned).
* For an lhist whose step is a multiple of 1024, bpftrace writes a negative
  bucket ``min`` as its unsigned 64-bit wrap-around; here it is the signed
  number.
"""

from __future__ import annotations

import time

from bpfscope.output.text import (HistLayout, bucket_layout, exit_order,
                                  format_key, print_entries)
from bpfscope.output.stream import StreamSink
from bpfscope.runtime.values import (AvgValue, Buffer, Formatted, MapData,
                                     StatsValue, Symbolic, TSeriesValue, int_div)

U64 = 1 << 64
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


# ---------------------------------------------------------------- values

def json_string(s: str) -> str:
    """``s`` as a JSON string, escaped the way bpftrace escapes it."""
    out = ['"']
    for c in s:
        esc = _ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c <= "\x1f":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def json_int(n: int) -> str:
    """An integer; one that a double cannot represent exactly is written
    as a string (RFC 8259 interoperability, as bpftrace does)."""
    try:
        exact = int(float(n)) == n
    except OverflowError:
        exact = False
    return str(n) if exact else json_string(str(n))


def _record(fields: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{json_string(k)}: {v}" for k, v in fields) + "}"


def _stats(v: StatsValue, div: int = 1) -> str:
    return _record([("count", json_int(v.count)),
                    ("average", json_int(int_div(v.average, div))),
                    ("total", json_int(v.total))])


def json_value(v: object) -> str:
    """One value (map value, tuple element, print() argument) as JSON."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return json_int(v)
    if isinstance(v, float):
        return f"{v:f}"          # std::to_string(double)
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, Buffer):
        # bpftrace writes a buffer as its (signed) chars.
        return "[" + ",".join(str(b - 256 if b >= 128 else b)
                              for b in v.data) + "]"
    if isinstance(v, Symbolic) and isinstance(v.raw, int) \
            and not isinstance(v.raw, bool) and not v.json_text:
        return json_int(v.raw % U64)
    if isinstance(v, Formatted):
        return json_string(v.text)
    if isinstance(v, (tuple, list)):
        return "[" + ",".join(json_value(e) for e in v) + "]"
    if isinstance(v, dict):
        return _record([(str(k), json_value(e)) for k, e in v.items()])
    if isinstance(v, StatsValue):
        return _stats(v)
    if isinstance(v, AvgValue):
        return json_int(v.average)
    if v is None:
        return "null"
    return json_string(str(v))


# ---------------------------------------------------------------- histograms

def _one_less(n: int) -> int:
    # bpftrace subtracts one in 64-bit arithmetic and reads it as signed.
    n -= 1
    return n - U64 if n >= 1 << 63 else n


def json_hist(layout: HistLayout | None) -> str:
    """A histogram's buckets as a JSON array (``[]`` when all are zero)."""
    if layout is None:
        return "[]"
    lower, labels, counts = layout
    rows = []
    for i, count in enumerate(counts):
        fields = []
        lo = lower if i == 0 else labels[i - 1]
        if lo is not None:
            fields.append(f'"min": {json_int(lo.value)}')
        if i < len(labels):
            fields.append(f'"max": {json_int(_one_less(labels[i].value))}')
        fields.append(f'"count": {count}')
        rows.append("{" + ", ".join(fields) + "}")
    return "[" + ",".join(rows) + "]"


# ---------------------------------------------------------------- time series

def _utc(wall_ns: int) -> str:
    secs, ns = divmod(wall_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + f".{ns:09d}"


def json_tseries(ts: TSeriesValue) -> str:
    """A time series' intervals with a value, as a JSON array."""
    return "[" + ",".join(
        '{"interval_start":"' + _utc(start) + '","value":' + json_int(v) + "}"
        for start, v in ts.points if v is not None) + "]"


# ---------------------------------------------------------------- maps

def map_type(data: MapData) -> str:
    """The record type bpftrace gives a map."""
    if data.kind in ("hist", "lhist"):
        return "hist"
    if data.kind in ("avg", "stats"):
        return "stats"
    if data.kind == "tseries":
        return "tseries"
    return "map"


def _entry_value(data: MapData, value: object, div: int) -> str:
    if data.kind in ("hist", "lhist"):
        return json_hist(bucket_layout(data, value, div))
    if isinstance(value, TSeriesValue):
        return json_tseries(value)
    if isinstance(value, StatsValue):
        return _stats(value, div)
    if isinstance(value, AvgValue):
        return json_int(int_div(value.average, div))
    if isinstance(value, int) and not isinstance(value, bool):
        return json_int(int_div(value, div))
    return json_value(value)


def json_key(key: tuple) -> str:
    """A map key as bpftrace names it in JSON: the text output's key
    without any spaces."""
    return format_key(key).replace(" ", "")


def json_map_data(data: MapData, top: int = 0, div: int = 1) -> str | None:
    """``{"@name": V}`` for ``print(@m, top, div)``; ``None`` when the map
    is empty (bpftrace prints nothing then)."""
    div = div or 1
    entries = print_entries(data, top)
    if not entries:
        return None
    if len(entries) == 1 and entries[0][0] == ():
        body = _entry_value(data, entries[0][1], div)
    else:
        body = "{" + ", ".join(
            f"{json_string(json_key(k))}: {_entry_value(data, v, div)}"
            for k, v in entries) + "}"
    return "{" + json_string(data.name) + ": " + body + "}"


def json_record(type_: str, data: str) -> str:
    """One output line: ``{"type": ..., "data": ...}`` and a newline."""
    return f'{{"type": "{type_}", "data": {data}}}\n'


def format_map(data: MapData, top: int = 0, div: int = 1) -> str:
    """The record of one map ('' when the map is empty)."""
    body = json_map_data(data, top, div)
    return "" if body is None else json_record(map_type(data), body)


def _located(type_: str, fields: list[tuple[str, str]], filename: str,
             line: int, col: int) -> str:
    fields = [("msg", fields[0][1])] + fields[1:] + [
        ("filename", json_string(filename)), ("line", json_int(line)),
        ("col", json_int(col))]
    return '{"type": "' + type_ + '", ' + ", ".join(
        f'"{k}": {v}' for k, v in fields) + "}\n"


# ---------------------------------------------------------------- sink

class JsonOutput(StreamSink):
    """An :class:`~bpfscope.runtime.sink.OutputSink` writing bpftrace's
    NDJSON format to ``out``; logger warnings and errors go to ``err`` as
    text."""

    def _emit(self, type_: str, data: str) -> None:
        self.out.write(json_record(type_, data))

    # -- OutputSink

    def attached(self, n_probes: int) -> None:
        self.out.write(f'{{"type": "attached_probes", "count": {n_probes}, '
                       f'"data": {{"probes": {n_probes}}}}}\n')

    def printf(self, text: str) -> None:
        self._emit("printf", json_string(text))

    def map(self, data: MapData, top: int = 0, div: int = 1) -> None:
        self.out.write(format_map(data, top, div))

    def maps_at_exit(self, maps: list[MapData]) -> None:
        self.out.write("".join(format_map(m) for m in exit_order(maps)))

    def benchmark_results(self, results: list[tuple[str, int]]) -> None:
        """bpftrace 0.26: {"type": "benchmark_results", "data": {NAME: NS, ...}}."""
        self._emit("benchmark_results",
                   "{" + ", ".join(f"{json_string(n)}: {ns}" for n, ns in results) + "}")

    def value(self, v: object) -> None:
        """print() of a single value."""
        self._emit("value", json_value(v))

    def lost_events(self, n: int) -> None:
        self.out.write(f'{{"type": "lost_events", "count": {n}, '
                       f'"data": {{"events": {n}}}}}\n')

    def missed_events(self, probe: str, n: int, reason: str) -> None:
        self.out.write(f'{{"type": "missed_events", "count": {n}, "data": '
                       f'{{"probe": {json_string(probe)}, "events": {n}, '
                       f'"reason": {json_string(reason)}}}}}\n')

    def map_full(self, text: str, filename: str, line: int, col: int) -> None:
        """As bpftrace 0.26: the failed map_update_elem as a helper error."""
        self.helper_error("Argument list too long", "map_update_elem", -7, filename, line, col)

    def helper_failed(self, text: str, msg: str, helper: str, retcode: int,
                      filename: str, line: int, col: int) -> None:
        """-k: the failed helper call as a helper error."""
        self.helper_error(msg, helper, retcode, filename, line, col)

    def dropped(self, kind: str, n: int, what: str, max_strlen: int, filename: str,
                line: int, col: int, end_col: int = 0) -> None:
        place = (f'"filename": {json_string(filename)}, "line": {line}, "col": {col}')
        if kind == "stack":
            self.out.write(f'{{"type": "stack_errors", "count": {n}, "data": {{"stack": '
                           f'{json_string(what)}, "stacks": {n}, {place}}}}}\n')
        else:
            self.out.write(f'{{"type": "truncated_strings", "count": {n}, "data": '
                           f'{{"function": {json_string(what)}, "strings": {n}, '
                           f'"max_strlen": {max_strlen}, {place}}}}}\n')

    def stack_copies(self, n: int, lost: int, name: str, filename: str, line: int, col: int,
                     end_col: int = 0) -> None:
        self.out.write(f'{{"type": "stack_copies", "count": {n}, "data": {{"map": '
                       f'{json_string(name)}, "events": {n}, "lost": {lost}, '
                       f'"filename": {json_string(filename)}, "line": {line}, "col": {col}}}}}\n')

    def time(self, text: str) -> None:
        self._emit("time", json_string(text))


    # -- records only JSON has a type for

    def join(self, text: str) -> None:
        """Text from join()."""
        self._emit("join", json_string(text))

    def cat(self, text: str) -> None:
        """Text from cat()."""
        self._emit("cat", json_string(text))

    def syscall(self, text: str) -> None:
        """Output of system()."""
        self._emit("syscall", json_string(text))

    def runtime_error(self, msg: str, filename: str, line: int,
                      col: int) -> None:
        """A runtime error of a probe at ``filename:line:col``."""
        self.out.write(_located("runtime_error", [("msg", json_string(msg))],
                                filename, line, col))

    def helper_error(self, msg: str, helper: str, retcode: int,
                     filename: str, line: int, col: int) -> None:
        """A failed BPF helper call (``msg`` is strerror of ``-retcode``)."""
        self.out.write(_located(
            "helper_error",
            [("msg", json_string(msg)), ("helper", json_string(helper)),
             ("retcode", json_int(retcode))], filename, line, col))

    def errorf(self, text: str, filename: str, line: int, col: int,
               end_col: int = 0) -> None:
        """errorf() output (JSON names the place by its start only)."""
        self.out.write(_located("errorf", [("msg", json_string(text))],
                                filename, line, col))

    def script_warning(self, w) -> None:
        kind = "note" if w.note else "warning"
        if w.span is not None and w.source is not None:
            self.err.write(_located(kind, [("msg", json_string(w.message))],
                                    w.source.name, w.span.line, w.span.col))
        else:
            self.err.write(f'{{"type": "{kind}", "msg": {json_string(w.message)}}}\n')

    def warnf(self, text: str, filename: str, line: int, col: int,
              end_col: int = 0) -> None:
        """warnf() output (JSON names the place by its start only)."""
        self.out.write(_located("warnf", [("msg", json_string(text))],
                                filename, line, col))
