"""runtime.usermap: a map kept in user space folds each update into the
entry of its decoded key with the aggregation's own fold, holds at most
its size (the rest counted), and reads back, clears and zeroes as a
kernel map does."""

from bpfscope.codegen.script import MapSpec
from bpfscope.runtime.usermap import UserMap
from bpfscope.runtime.values import AvgValue, StatsValue, hist_index
from bpfscope.sema import types as T

KEY = T.TupleType((T.INT64,))


def umap(kind, params=(), entries=100):
    value = T.AggType(kind, True, params) if kind != "plain" else T.INT64
    return UserMap(MapSpec("@m", "user", 8, 16, entries, kind, KEY, value))


def fed(kind, updates, params=()):
    m = umap(kind, params)
    for key, arg in updates:
        m.add((key,), arg)
    return dict(m.data().entries)


def test_each_aggregation_folds_its_way():
    ups = [(1, 5), (1, 9), (2, -3), (1, 1)]
    assert fed("count", ups) == {(1,): 3, (2,): 1}
    assert fed("sum", ups) == {(1,): 15, (2,): -3}
    assert fed("min", ups) == {(1,): 1, (2,): -3}
    assert fed("max", ups) == {(1,): 9, (2,): -3}
    assert fed("avg", ups) == {(1,): AvgValue(15, 3), (2,): AvgValue(-3, 1)}
    assert fed("stats", ups) == {(1,): StatsValue(3, 15), (2,): StatsValue(1, -3)}
    assert fed("hist", ups, (0,)) == {(1,): {hist_index(5): 1, hist_index(9): 1, hist_index(1): 1},
                                     (2,): {0: 1}}
    assert fed("plain", ups) == {(1,): 1, (2,): -3}  # the last value stays


def test_a_full_map_counts_what_it_drops():
    m = umap("count", entries=2)
    assert [m.add((k,), 1) for k in (1, 2, 3, 1, 4)] == [True, True, False, True, False]
    assert m.dropped == 2 and dict(m.data().entries) == {(1,): 2, (2,): 1}


def test_clear_and_zero():
    m = umap("min")
    m.add((1,), 4)
    m.zero()
    assert dict(m.data().entries) == {(1,): 0}
    m.add((1,), 7)  # after zero() the next value is the entry's first again
    assert dict(m.data().entries) == {(1,): 7}
    m.clear()
    assert m.data().entries == []
