"""JSON (-f json) output.

Expected lines follow bpftrace 0.26's src/output/json.cpp: objects spaced
(``", "``, ``": "``), arrays unspaced, one record per line.
"""

import io
import json

import pytest

from bpfscope.output.json import JsonOutput, json_string, json_value
from bpfscope.runtime.sink import OutputSink
from bpfscope.runtime.values import (AvgValue, Buffer, MapData, StatsValue,
                                     Symbolic, hist_index, lhist_index)


def sink():
    out, err = io.StringIO(), io.StringIO()
    return JsonOutput(out, err), out, err


def lines_of(call, *args, **kw):
    s, out, err = sink()
    getattr(s, call)(*args, **kw)
    text = out.getvalue()
    for line in text.splitlines():
        json.loads(line)             # every record is valid JSON
    assert err.getvalue() == ""
    return text


def map_line(data, top=0, div=1):
    return lines_of("map", data, top, div)


def hist_of(values, k=0):
    buckets = {}
    for v in values:
        i = hist_index(v, k)
        buckets[i] = buckets.get(i, 0) + 1
    return buckets


def lhist_of(values, lo, hi, step):
    buckets = {}
    for v in values:
        i = lhist_index(v, lo, hi, step)
        buckets[i] = buckets.get(i, 0) + 1
    return buckets


def test_is_output_sink():
    assert isinstance(JsonOutput(io.StringIO(), io.StringIO()), OutputSink)


# ---------------------------------------------------------------- text records

def test_printf():
    assert lines_of("printf", "hello\n") == \
        '{"type": "printf", "data": "hello\\n"}\n'


def test_string_escaping():
    text = 'q"b\\n\nr\rt\tc\x01\x1f\x7f é'
    assert lines_of("printf", text) == (
        '{"type": "printf", "data": '
        '"q\\"b\\\\n\\nr\\rt\\tc\\u0001\\u001f\x7f é"}\n')
    assert json.loads(json_string(text)) == text


@pytest.mark.parametrize("call", ["time", "join", "cat", "syscall"])
def test_text_records(call):
    assert lines_of(call, "a b\n") == \
        f'{{"type": "{call}", "data": "a b\\n"}}\n'


def test_attached_probes():
    assert lines_of("attached", 3) == \
        '{"type": "attached_probes", "count": 3, "data": {"probes": 3}}\n'


def test_lost_events():
    assert lines_of("lost_events", 17) == \
        '{"type": "lost_events", "count": 17, "data": {"events": 17}}\n'


def test_warning_and_error_are_text_on_stderr():
    s, out, err = sink()
    s.warning("something odd")
    s.error("it broke")
    s.flush()
    assert out.getvalue() == ""
    assert err.getvalue() == "WARNING: something odd\nERROR: it broke\n"


def test_runtime_error():
    assert lines_of("runtime_error", "Divide by zero", "stdin", 1, 12) == (
        '{"type": "runtime_error", "msg": "Divide by zero", '
        '"filename": "stdin", "line": 1, "col": 12}\n')


def test_helper_error():
    assert lines_of("helper_error", "Bad address", "probe_read_user", -14,
                    "x.bt", 3, 5) == (
        '{"type": "helper_error", "msg": "Bad address", '
        '"helper": "probe_read_user", "retcode": -14, '
        '"filename": "x.bt", "line": 3, "col": 5}\n')


def test_errorf_warnf():
    assert lines_of("errorf", "bad\n", "stdin", 2, 3) == (
        '{"type": "errorf", "msg": "bad\\n", '
        '"filename": "stdin", "line": 2, "col": 3}\n')
    assert lines_of("warnf", "hmm", "stdin", 2, 3) == (
        '{"type": "warnf", "msg": "hmm", '
        '"filename": "stdin", "line": 2, "col": 3}\n')


# ---------------------------------------------------------------- values

def test_value_scalars():
    assert lines_of("value", 5) == '{"type": "value", "data": 5}\n'
    assert lines_of("value", -5) == '{"type": "value", "data": -5}\n'
    assert lines_of("value", "s") == '{"type": "value", "data": "s"}\n'
    assert lines_of("value", True) == '{"type": "value", "data": true}\n'


def test_value_tuple_unspaced():
    assert lines_of("value", (1, "a b")) == \
        '{"type": "value", "data": [1,"a b"]}\n'


def test_nested_values():
    v = ((1, "s"), [1, 2], {"x": 1, "y": "z"}, False, None, [])
    assert json_value(v) == '[[1,"s"],[1,2],{"x": 1, "y": "z"},false,null,[]]'
    assert json_value({}) == "{}"


def test_big_integers_are_strings():
    assert json_value(2 ** 53) == "9007199254740992"
    assert json_value(2 ** 53 + 1) == '"9007199254740993"'
    assert json_value(2 ** 63 - 1) == '"9223372036854775807"'
    assert json_value(-2 ** 63) == "-9223372036854775808"
    assert json_value(2 ** 64 - 1) == '"18446744073709551615"'


def test_buffer_is_signed_bytes():
    assert json_value(Buffer(b"hi\xff")) == "[104,105,-1]"


def test_symbolic():
    # Enums and pointers carry their number; bpftrace's JSON writes that.
    assert json_value(Symbolic("TASK_RUNNING", 0)) == "0"
    assert json_value(Symbolic("0xffff", 0xffff)) == "65535"
    assert json_value(Symbolic("do_sys_open+5")) == '"do_sys_open+5"'


def test_strerror_is_its_text_in_json_as_in_bpftrace_026():
    from bpfscope.sema import types as T
    assert T.SymbolicInt(what="strerror").json_text
    assert not T.SymbolicInt(what="ksym").json_text


def test_value_stats_and_avg():
    assert json_value(StatsValue(2, 7)) == \
        '{"count": 2, "average": 3, "total": 7}'
    assert json_value(AvgValue(7, 2)) == "3"


# ---------------------------------------------------------------- maps

def test_scalar_map():
    assert map_line(MapData("@x", "plain", [((), 1)])) == \
        '{"type": "map", "data": {"@x": 1}}\n'


def test_scalar_string_and_tuple_values():
    assert map_line(MapData("@s", "plain", [((), 'a "q"')])) == \
        '{"type": "map", "data": {"@s": "a \\"q\\""}}\n'
    assert map_line(MapData("@t", "plain", [((), (1, "x", (2, 3)))])) == \
        '{"type": "map", "data": {"@t": [1,"x",[2,3]]}}\n'


def test_empty_map_prints_nothing():
    assert map_line(MapData("@x", "count", [])) == ""


def test_keyed_count_sorted_by_value():
    m = MapData("@", "count", [(("bash",), 5), (("sshd",), 1),
                               (("cron",), 3)])
    assert map_line(m) == ('{"type": "map", "data": '
                           '{"@": {"sshd": 1, "cron": 3, "bash": 5}}}\n')


def test_keyed_top_and_div():
    m = MapData("@c", "sum", [((1,), 100), ((2,), 300), ((3,), 200)])
    assert map_line(m, top=2, div=10) == \
        '{"type": "map", "data": {"@c": {"3": 20, "2": 30}}}\n'


def test_tuple_keys_lose_parentheses_and_spaces():
    m = MapData("@k", "count", [(("a b", 2), 1)])
    assert map_line(m) == '{"type": "map", "data": {"@k": {"ab,2": 1}}}\n'
    # A key that is one tuple value prints like the two-key form.
    m = MapData("@k", "count", [(((1, 2),), 4)])
    assert map_line(m) == '{"type": "map", "data": {"@k": {"1,2": 4}}}\n'


def test_string_keys():
    m = MapData("@s", "plain", [(("x y",), "v w"), (("a\"b",), "z")])
    # Plain string values sort by key; spaces go from keys, not values.
    assert map_line(m) == ('{"type": "map", "data": '
                           '{"@s": {"a\\"b": "z", "xy": "v w"}}}\n')


def test_big_integer_map_values():
    m = MapData("@m", "max", [(("a",), 2 ** 64 - 1), (("b",), 7)])
    assert map_line(m) == ('{"type": "map", "data": '
                           '{"@m": {"b": 7, "a": "18446744073709551615"}}}\n')
    m = MapData("@n", "min", [((), -2 ** 63)])
    assert map_line(m) == \
        '{"type": "map", "data": {"@n": -9223372036854775808}}\n'


def test_stats_map():
    assert map_line(MapData("@s", "stats", [((), StatsValue(1, 3))])) == \
        ('{"type": "stats", "data": '
         '{"@s": {"count": 1, "average": 3, "total": 3}}}\n')


def test_keyed_stats_map():
    m = MapData("@s", "stats", [(("b",), StatsValue(2, 20)),
                                (("a",), StatsValue(2, 6))])
    assert map_line(m) == (
        '{"type": "stats", "data": {"@s": '
        '{"a": {"count": 2, "average": 3, "total": 6}, '
        '"b": {"count": 2, "average": 10, "total": 20}}}}\n')


def test_stats_big_total():
    m = MapData("@s", "stats", [((), StatsValue(1, 2 ** 60 + 1))])
    assert map_line(m) == (
        '{"type": "stats", "data": {"@s": {"count": 1, '
        '"average": "1152921504606846977", "total": "1152921504606846977"}}}\n')


def test_avg_map_is_stats_type():
    assert map_line(MapData("@a", "avg", [((), AvgValue(7, 2))])) == \
        '{"type": "stats", "data": {"@a": 3}}\n'
    m = MapData("@a", "avg", [((1,), AvgValue(90, 3)), ((2,), AvgValue(10, 1))])
    assert map_line(m, div=10) == \
        '{"type": "stats", "data": {"@a": {"2": 1, "1": 3}}}\n'


# ---------------------------------------------------------------- histograms

def test_hist_power_of_two():
    m = MapData("@h", "hist", [((), hist_of([5]))])
    assert map_line(m) == ('{"type": "hist", "data": '
                           '{"@h": [{"min": 4, "max": 7, "count": 1}]}}\n')


def test_hist_negative_zero_one_and_gap():
    m = MapData("@h", "hist", [((), hist_of([-1, 0, 1, 5, 6]))])
    assert map_line(m) == (
        '{"type": "hist", "data": {"@h": ['
        '{"max": -1, "count": 1},'
        '{"min": 0, "max": 0, "count": 1},'
        '{"min": 1, "max": 1, "count": 1},'
        '{"min": 2, "max": 3, "count": 0},'
        '{"min": 4, "max": 7, "count": 2}]}}\n')


def test_hist_suffixed_labels_are_numbers():
    m = MapData("@h", "hist", [((), hist_of([1500, 3 << 20]))])
    assert map_line(m) == (
        '{"type": "hist", "data": {"@h": ['
        '{"min": 1024, "max": 2047, "count": 1},'
        + "".join(f'{{"min": {1 << e}, "max": {(2 << e) - 1}, "count": 0}},'
                  for e in range(11, 21))
        + '{"min": 2097152, "max": 4194303, "count": 1}]}}\n')


def test_hist_k():
    m = MapData("@h", "hist", [((), hist_of([5, 100], k=2))], hist_k=2)
    out = map_line(m)
    rows = json.loads(out)["data"]["@h"]
    assert rows[0] == {"min": 5, "max": 5, "count": 1}
    assert rows[-1] == {"min": 96, "max": 111, "count": 1}
    assert out.startswith('{"type": "hist", "data": {"@h": ['
                          '{"min": 5, "max": 5, "count": 1},'
                          '{"min": 6, "max": 6, "count": 0},')


def test_hist_div():
    m = MapData("@h", "hist", [((), hist_of([5] * 25))])
    assert map_line(m, div=10) == ('{"type": "hist", "data": '
                                   '{"@h": [{"min": 4, "max": 7, "count": 2}]}}\n')


def test_keyed_hist_sorted_by_total():
    m = MapData("@h", "hist", [(("bash",), hist_of([5, 5])),
                               (("cat",), hist_of([2]))])
    assert map_line(m) == (
        '{"type": "hist", "data": {"@h": {'
        '"cat": [{"min": 2, "max": 3, "count": 1}], '
        '"bash": [{"min": 4, "max": 7, "count": 2}]}}}\n')


def test_hist_all_zero_is_empty_array():
    m = MapData("@h", "hist", [(("a",), {3: 0})])
    assert map_line(m) == '{"type": "hist", "data": {"@h": {"a": []}}}\n'


def test_lhist_below_and_above():
    m = MapData("@l", "lhist", [((), lhist_of([-5, 15, 30], 0, 30, 10))],
                lhist=(0, 30, 10))
    assert map_line(m) == (
        '{"type": "hist", "data": {"@l": ['
        '{"max": -1, "count": 1},'
        '{"min": 0, "max": 9, "count": 0},'
        '{"min": 10, "max": 19, "count": 1},'
        '{"min": 20, "max": 29, "count": 0},'
        '{"min": 30, "count": 1}]}}\n')


def test_lhist_inner_range_and_div_ignored():
    m = MapData("@l", "lhist", [((), lhist_of([15, 15], 0, 30, 10))],
                lhist=(0, 30, 10))
    assert map_line(m, div=2) == ('{"type": "hist", "data": '
                                  '{"@l": [{"min": 10, "max": 19, "count": 2}]}}\n')


def test_lhist_kilo_step_numbers():
    m = MapData("@l", "lhist", [((), lhist_of([2000], 0, 4096, 1024))],
                lhist=(0, 4096, 1024))
    assert map_line(m) == ('{"type": "hist", "data": '
                           '{"@l": [{"min": 1024, "max": 2047, "count": 1}]}}\n')
    m = MapData("@l", "lhist", [((), lhist_of([-1500], -2048, 2048, 1024))],
                lhist=(-2048, 2048, 1024))
    assert map_line(m) == ('{"type": "hist", "data": '
                           '{"@l": [{"min": -2048, "max": -1025, "count": 1}]}}\n')


def test_keyed_lhist_tuple_key():
    m = MapData("@l", "lhist",
                [(("a b", 1), lhist_of([35], 0, 30, 10))], lhist=(0, 30, 10))
    assert map_line(m) == ('{"type": "hist", "data": '
                           '{"@l": {"ab,1": [{"min": 30, "count": 1}]}}}\n')


# ---------------------------------------------------------------- exit

def test_maps_at_exit_order_and_no_blank_lines():
    maps = [MapData("@x", "plain", [((), 1)]),
            MapData("@a", "avg", [((), AvgValue(3, 1))]),
            MapData("@empty", "count", []),
            MapData("@h", "hist", [((), hist_of([5]))]),
            MapData("@", "count", [(("k",), 2)])]
    assert lines_of("maps_at_exit", maps) == (
        '{"type": "map", "data": {"@": {"k": 2}}}\n'
        '{"type": "stats", "data": {"@a": 3}}\n'
        '{"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}\n'
        '{"type": "map", "data": {"@x": 1}}\n')


def test_maps_at_exit_nothing():
    assert lines_of("maps_at_exit", []) == ""
