"""Text layout of maps and histograms.

Expected strings were observed from bpftrace 0.17 and adjusted where
bpftrace 0.26's src/output/text.cpp changed the layout: no trailing space
after ``@h:``, stats as a record, no blank line after non-histogram maps.
"""

import io

from bpfscope.output.text import (TextOutput, format_hist, format_lhist,
                                  format_map, format_maps_at_exit, print_entries)
from bpfscope.runtime.sink import OutputSink
from bpfscope.runtime.values import AvgValue, MapData, StatsValue, hist_index

FULL = "|" + "@" * 52 + "|"
EMPTY = "|" + " " * 52 + "|"


def row(label, count, bar):
    return f"{label:<16}{count:>8} {bar}\n"


def hist_of(*values, k=0):
    buckets = {}
    for v in values:
        i = hist_index(v, k)
        buckets[i] = buckets.get(i, 0) + 1
    return buckets


def test_hist_negatives_gaps_and_suffixes():
    # bpftrace 0.17: @h = hist(0), hist(1), hist(5), hist(5000), hist(-3)
    out = format_hist(hist_of(0, 1, 5, 5000, -3))
    labels = ["(..., 0)", "[0]", "[1]", "[2, 4)", "[4, 8)", "[8, 16)",
              "[16, 32)", "[32, 64)", "[64, 128)", "[128, 256)",
              "[256, 512)", "[512, 1K)", "[1K, 2K)", "[2K, 4K)", "[4K, 8K)"]
    used = {"(..., 0)", "[0]", "[1]", "[4, 8)", "[4K, 8K)"}
    assert out == "".join(row(l, 1 if l in used else 0,
                              FULL if l in used else EMPTY) for l in labels)


def test_hist_single_bucket_and_bar_scaling():
    assert format_hist(hist_of(100)) == row("[64, 128)", 1, FULL)
    out = format_hist(hist_of(2, 3, 3, 8, 8, 8))
    assert out == (row("[2, 4)", 3, FULL)
                   + row("[4, 8)", 0, EMPTY)
                   + row("[8, 16)", 3, FULL))
    out = format_hist({3: 1, 4: 3})
    assert out == (row("[2, 4)", 1, "|" + "@" * 17 + " " * 35 + "|")
                   + row("[4, 8)", 3, FULL))


def test_hist_first_bucket_bounds():
    assert format_hist(hist_of(1)) == row("[1]", 1, FULL)
    assert format_hist(hist_of(-1)) == row("(..., 0)", 1, FULL)
    assert format_hist(hist_of(1 << 40)) == row("[1T, 2T)", 1, FULL)
    assert format_hist(hist_of((1 << 64) - 1)) == row("[8E, 16E)", 1, FULL)


def test_hist_with_k():
    # Layout from bpftrace's hist(n, 2) example (commit adding k): single
    # values up to 7, then 4 buckets per power of two.
    half = "|" + "@" * 26 + " " * 26 + "|"
    lines = format_hist(hist_of(7, 8, 9, 1300, k=2), k=2).splitlines(True)
    assert lines[:3] == [row("[7]", 1, half), row("[8, 10)", 2, FULL),
                         row("[10, 12)", 0, EMPTY)]
    assert lines[-1] == row("[1280, 1536)", 1, half)
    assert format_hist(hist_of(5000, k=2), k=2) == row("[4K, 5K)", 1, FULL)


def test_hist_div_divides_counts():
    assert format_hist({5: 10, 6: 4}, div=2) == (
        row("[8, 16)", 5, FULL) + row("[16, 32)", 2, "|" + "@" * 20
                                      + " " * 32 + "|"))


def test_lhist_below_and_above():
    # bpftrace 0.17: lhist(-5, 0, 100, 10), lhist(35, ...), lhist(100, ...)
    out = format_lhist({0: 1, 4: 1, 11: 1}, 0, 100, 10)
    labels = ["(..., 0)"] + [f"[{a}, {a + 10})" for a in range(0, 100, 10)] \
        + ["[100, ...)"]
    used = {"(..., 0)", "[30, 40)", "[100, ...)"}
    assert out == "".join(row(l, 1 if l in used else 0,
                              FULL if l in used else EMPTY) for l in labels)


def test_lhist_inner_range_and_suffixes():
    assert format_lhist({3: 2}, 0, 100, 10) == row("[20, 30)", 2, FULL)
    assert format_lhist({2: 1}, 0, 4096, 1024) == row("[1K, 2K)", 1, FULL)
    # Step 1: adjacent plain numbers collapse to one value.
    assert format_lhist({6: 1}, 0, 10, 1) == row("[5]", 1, FULL)
    assert format_lhist({11: 1}, 0, 10, 1) == row("[10, ...)", 1, FULL)


def test_scalar_maps():
    assert format_map(MapData("@c", "count", [((), 1)])) == "@c: 1\n"
    assert format_map(MapData("@", "sum", [((), -7)])) == "@: -7\n"
    # avg truncates toward zero like C: (-7 + 2) / 2 == -2 (bpftrace 0.17).
    assert format_map(MapData("@a", "avg", [((), AvgValue(-5, 2))])) == \
        "@a: -2\n"
    assert format_map(MapData("@t", "plain", [((), (1, "abc", (2, 3)))])) \
        == "@t: (1, abc, (2, 3))\n"


def test_stats_record_layout():
    # 0.17 printed "@s: count 1, average 3, total 3"; 0.26 prints a record.
    data = MapData("@s", "stats", [((1,), StatsValue(1, -7)),
                                   ((2,), StatsValue(2, 10))])
    assert format_map(data) == (
        "@s[1]: { .count = 1, .average = -7, .total = -7 }\n"
        "@s[2]: { .count = 2, .average = 5, .total = 10 }\n")


def test_multi_key_map_sorted_by_value():
    data = MapData("@k", "count", [((1, "ab"), 3), ((2, "b"), 1),
                                   ((0, "zz"), 2)])
    assert format_map(data) == "@k[2, b]: 1\n@k[0, zz]: 2\n@k[1, ab]: 3\n"


def test_string_values_sorted_by_key():
    data = MapData("@str", "plain", [(("x",), "hello"), (("a",), "w"),
                                     (("ab",), "z")])
    assert format_map(data) == "@str[a]: w\n@str[ab]: z\n@str[x]: hello\n"


def test_tuple_key_prints_without_parentheses():
    data = MapData("@m", "plain", [(((1, "a"),), "v"), (((0, "b"),), "w")])
    assert format_map(data) == "@m[0, b]: w\n@m[1, a]: v\n"


def test_min_max_sort_unsigned():
    data = MapData("@m", "max", [((1,), -5), ((2,), 3)])
    assert format_map(data) == "@m[2]: 3\n@m[1]: -5\n"


def test_top_and_div():
    # bpftrace 0.17: @x[1]=1, [2]=5, [3]=3, [4]=10; print(@x, 2, 2)
    data = MapData("@x", "plain", [((1,), 1), ((2,), 5), ((3,), 3),
                                   ((4,), 10)])
    assert format_map(data, 2, 2) == "@x[2]: 2\n@x[4]: 5\n"
    assert format_map(data) == "@x[1]: 1\n@x[3]: 3\n@x[2]: 5\n@x[4]: 10\n"


def test_keyed_histograms_sorted_by_total_with_blank_lines():
    data = MapData("@hh", "hist", [(("a",), hist_of(1, 1)),
                                   (("b",), hist_of(3))])
    assert format_map(data) == (
        "@hh[b]:\n" + row("[2, 4)", 1, FULL) + "\n"
        "@hh[a]:\n" + row("[1]", 2, FULL) + "\n")
    assert format_map(data, top=1) == "@hh[a]:\n" + row("[1]", 2, FULL) + "\n"


def test_histograms_with_equal_totals_follow_their_keys():
    # bpftrace 0.26's json-output 'print_hist_with_top_arg': three maps of
    # one value each, print(@, 2) shows @[2] and @[3]
    data = MapData("@", "hist", [((3,), hist_of(30)), ((1,), hist_of(10)),
                                 ((2,), hist_of(20))])
    assert [k for k, _ in print_entries(data, 2)] == [(2,), (3,)]


def test_empty_maps_print_nothing():
    assert format_map(MapData("@e", "count", [])) == ""
    assert format_map(MapData("@h", "hist", [])) == ""
    # A histogram whose buckets were zeroed keeps its header.
    assert format_map(MapData("@h", "hist", [((), {})])) == "@h:\n\n"


def test_maps_at_exit_order_and_spacing():
    maps = [MapData("@z", "count", [((), 0)]),
            MapData("@h", "hist", [((), hist_of(100))]),
            MapData("@e", "count", []),
            MapData("@a", "avg", [((), AvgValue(4, 2))])]
    assert format_maps_at_exit(maps) == (
        "\n\n@a: 2\n@h:\n" + row("[64, 128)", 1, FULL) + "\n@z: 0\n")


def test_text_output_streams():
    out, err = io.StringIO(), io.StringIO()
    sink = TextOutput(out, err)
    assert isinstance(sink, OutputSink)
    sink.attached(1)
    sink.attached(3)
    sink.printf("hi\n")
    sink.lost_events(4)
    sink.time("12:00:00\n")
    sink.map(MapData("@c", "count", [((), 2)]))
    sink.warning("careful")
    sink.error("broken")
    sink.flush()
    assert out.getvalue() == "hi\n12:00:00\n@c: 2\n"
    # bpftrace 0.26 writes lost events to stderr, as it does 'Attached'
    assert err.getvalue() == ("Attached 1 probe\nAttached 3 probes\nLost 4 events\n"
                              "WARNING: careful\nERROR: broken\n")


def test_errorf_and_warnf_name_their_place_on_stderr():
    out, err = io.StringIO(), io.StringIO()
    sink = TextOutput(out, err)
    sink.errorf("Something bad with args: 10, arg2", "stdin", 1, 9, 62)
    sink.warnf("hmm\n", "script.bt", 3, 5, 20)
    assert out.getvalue() == ""
    assert err.getvalue() == ("stdin:1:9-62: ERROR: Something bad with args: 10, arg2\n"
                              "script.bt:3:5-20: WARNING: hmm\n\n")
