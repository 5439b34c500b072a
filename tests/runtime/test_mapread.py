"""runtime.mapread on maps faked in Python: a map without keys always
has its one value, as in bpftrace 0.26 (never set, deleted or cleared, it
reads as zero); a zeroed histogram keeps its keys, empty."""

from __future__ import annotations

import struct

from bpfscope.codegen.script import MapSpec
from bpfscope.runtime.mapread import keyless, read_map, zero_value
from bpfscope.runtime.values import AvgValue, StatsValue
from bpfscope.sema import types as T


class FakeMap:
    def __init__(self, items=()):
        self._items = list(items)

    def items(self):
        return list(self._items)


def _spec(kind="plain", value=T.INT64, key=None, map_type="hash", value_size=8):
    return MapSpec("@x", map_type, 8, value_size, 1, kind=kind, key=key, value=value)


def test_an_empty_keyless_map_reads_as_zero():
    assert read_map(_spec(), FakeMap()).entries == [((), 0)]
    rec = T.TupleType((T.INT64, T.StringType(4)), ("a", "b"))
    assert read_map(_spec(value=rec, value_size=16), FakeMap()).entries == [((), {"a": 0, "b": ""})]
    assert read_map(_spec(value=T.StringType(8)), FakeMap()).entries == [((), "")]


def test_empty_keyless_aggregations():
    assert zero_value(_spec("count")) == 0
    assert zero_value(_spec("stats")) == StatsValue(0, 0)
    assert zero_value(_spec("avg")) == AvgValue(0, 0)
    assert zero_value(_spec("hist")) == {}
    data = read_map(_spec("stats", map_type="percpu_array"), FakeMap())
    assert data.entries == [((), StatsValue(0, 0))]


def test_keyed_maps_stay_empty():
    key = T.TupleType((T.INT64,))
    assert not keyless(_spec(key=key)) and keyless(_spec())
    assert read_map(_spec(key=key), FakeMap()).entries == []


def test_a_zeroed_histogram_keeps_its_keys():
    key = T.TupleType((T.INT64,))
    raw = struct.pack("<qQ", 7, 3)  # key 7, bucket 3
    data = read_map(_spec("hist", key=key, map_type="percpu_hash"),
                    FakeMap([(raw, [b"\0" * 8, b"\0" * 8])]))
    assert data.entries == [((7,), {})]
