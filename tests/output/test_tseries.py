"""tseries() maps on synthetic data: the per-CPU slots merged and laid out
(runtime.mapread), 0.26's text graph and its JSON record."""

from __future__ import annotations

import struct
import time

import pytest

from bpfscope.codegen.script import MapSpec
from bpfscope.output import json as jsonout
from bpfscope.output.text import format_map, format_tseries
from bpfscope.runtime import mapread
from bpfscope.runtime.mapread import read_map, tseries_slot, zero_value
from bpfscope.runtime.values import MapData, TSeriesValue
from bpfscope.sema import types as T

MS = 1_000_000
# 2026-12-03 10:00:00 UTC, in ns
T0 = 1_796_292_000 * 1_000_000_000


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def slot(value, meta, epoch):
    """A CPU's slot of interval number ``epoch``: BPF tags it with the
    number plus one, so that an all-zero slot is one never used."""
    return struct.pack("<qQQ", value, meta, epoch + 1)


def spec(agg="", n=5, key=None):
    v = T.AggType("tseries", True, (100 * MS, n, agg))
    return MapSpec("@a", "percpu_hash", 16 if key is None else key.size + 8, 24, 80,
                   kind="tseries", key=key, value=v)


class FakeMap:
    def __init__(self, items):
        self._items = list(items)

    def items(self):
        return list(self._items)


@pytest.mark.parametrize("agg, want", [("", 7), ("sum", 12), ("max", 7), ("min", 5),
                                       ("avg", 4)])
def test_a_slot_merges_the_cpus_of_its_latest_interval(agg, want):
    # CPU 0 wrote 5 at time 20 (one event), CPU 1 wrote 7 at time 30 (two
    # events for avg: total 7 over 2... and 5 over 1 -> 12 / 3 = 4); CPU 2
    # still holds an older interval, which does not count
    meta0, meta1 = (1, 2) if agg == "avg" else (20, 30)
    cpus = [slot(5, meta0, 9), slot(7, meta1, 9), slot(100, 99, 4), b"\0" * 24]
    assert tseries_slot(cpus, True, agg) == (9, want)
    assert tseries_slot([b"\0" * 24] * 2, True, agg) is None


def test_interval_number_zero_is_a_used_slot():
    # an interval longer than the uptime puts every event in interval 0
    assert tseries_slot([slot(7, 1, 0), b"\0" * 24], True, "sum") == (0, 7)


def test_keys_run_from_their_first_interval_to_the_latest_of_the_map(monkeypatch):
    monkeypatch.setattr(mapread, "monotonic_to_wall_ns", lambda: T0)
    key = T.TupleType((T.StringType(8),))

    def k(s, epoch):
        return s.encode().ljust(8, b"\0") + struct.pack("<Q", epoch % 5)
    items = [(k("one", 10), [slot(0, 1, 10)]), (k("one", 11), [slot(5, 1, 11)]),
             (k("two", 13), [slot(4, 1, 13)]), (k("two", 14), [slot(4, 1, 14)]),
             # a slot of an interval older than the last five is out
             (k("two", 7), [slot(9, 1, 7)])]
    data = read_map(spec(key=key), FakeMap(items))
    entries = dict(data.entries)
    iv = 100 * MS
    assert entries[("one",)] == TSeriesValue(iv, (
        (T0 + 10 * iv, 0), (T0 + 11 * iv, 5), (T0 + 12 * iv, None), (T0 + 13 * iv, None),
        (T0 + 14 * iv, None)))
    assert entries[("two",)].points == ((T0 + 13 * iv, 4), (T0 + 14 * iv, 4))


def test_an_empty_keyless_map_has_no_data():
    assert zero_value(spec()) == TSeriesValue(100 * MS)
    data = read_map(spec(), FakeMap([]))
    assert format_map(data) == "@a:\n<no data>\n\n"
    assert jsonout.format_map(data) == '{"type": "tseries", "data": {"@a": []}}\n'


def points(*vals, start=T0, step=100 * MS):
    return tuple((start + i * step, v) for i, v in enumerate(vals))


def test_the_text_graph_of_0_26():
    ts = TSeriesValue(100 * MS, points(0, 5, 5, None))
    assert format_tseries(ts) == (
        "             0                                                   5\n"
        "hh:mm:ss.ms  |___________________________________________________|\n"
        "10:00:00.000 *                                                   | 0\n"
        "10:00:00.100 |                                                   * 5\n"
        "10:00:00.200 |                                                   * 5\n"
        "10:00:00.300 |                                                   | -\n"
        "             v___________________________________________________v\n"
        "             0                                                   5\n")


def test_one_value_widens_the_scale_and_negative_scales_mark_zero():
    same = format_tseries(TSeriesValue(100 * MS, points(4, 4)))
    assert same.splitlines()[0] == " " * 13 + "3".ljust(21) + "5".rjust(32)
    assert same.splitlines()[2] == "10:00:00.000 |" + " " * 25 + "*" + " " * 25 + "| 4"
    zig = format_tseries(TSeriesValue(100 * MS, points(-5, -4, 0, 5))).splitlines()
    assert zig[2] == "10:00:00.000 *" + " " * 25 + "." + " " * 25 + "| -5"
    assert zig[3] == "10:00:00.100 |    *" + " " * 20 + "." + " " * 25 + "| -4"
    assert zig[4] == "10:00:00.200 |" + " " * 25 + "*" + " " * 25 + "| 0"
    assert zig[5] == "10:00:00.300 |" + " " * 25 + "." + " " * 25 + "* 5"


def test_the_time_column_follows_the_interval():
    secs = format_tseries(TSeriesValue(10**9, points(1, 2, step=10**9))).splitlines()
    assert secs[1].startswith("hh:mm:ss |") and secs[2].startswith("10:00:00 *")
    us = format_tseries(TSeriesValue(1000, points(1, 2, step=1000))).splitlines()
    assert us[1].startswith("hh:mm:ss.\u03bcs     |") and us[3].startswith("10:00:00.000001 |")


def test_keyed_maps_print_each_key_then_a_blank_line():
    data = MapData("@a", "tseries", [(("two",), TSeriesValue(100 * MS, points(4))),
                                     (("one",), TSeriesValue(100 * MS, points(1)))])
    text = format_map(data)
    assert text.startswith("@a[one]:\n") and "2\n\n@a[two]:\n" in text and text.endswith("5\n\n")
    # one interval: no interval between rows, so nanoseconds (as 0.26)
    assert "\nhh:mm:ss.ns        |___" in text and "\n10:00:00.000000000 |" in text


def test_the_json_record():
    data = MapData("@a", "tseries", [((), TSeriesValue(100 * MS, points(9, None, -2)))])
    assert jsonout.format_map(data) == (
        '{"type": "tseries", "data": {"@a": ['
        '{"interval_start":"2026-12-03 10:00:00.000000000","value":9},'
        '{"interval_start":"2026-12-03 10:00:00.200000000","value":-2}]}}\n')
    keyed = MapData("@a", "tseries", [(("x",), TSeriesValue(100 * MS, points(1)))])
    assert jsonout.format_map(keyed).startswith('{"type": "tseries", "data": {"@a": {"x": [{')


def test_the_exporter_shows_the_latest_interval_as_a_gauge():
    from bpfscope.output.prometheus import map_families
    data = MapData("@a", "tseries", [(("x",), TSeriesValue(100 * MS, points(3, 8))),
                                     (("y",), TSeriesValue(100 * MS, points(2, None)))])
    (fam,), dropped = map_families(data, ["k"])
    assert fam.type == "gauge" and dropped == 0
    assert [s[2] for s in fam.samples] == [8]
