"""bench mode's table, JSON record and --probe-filter selection (no kernel)."""

from __future__ import annotations

import io

from bpfscope.output.json import JsonOutput
from bpfscope.runtime import bench


def test_table_widths_follow_the_longest_cell():
    assert bench.table([("count", 40), ("a_rather_long_name", 1234567890123)]) == (
        "+--------------------+---------------+\n"
        "| BENCHMARK          | NANOSECONDS   |\n"
        "+--------------------+---------------+\n"
        "| count              | 40            |\n"
        "| a_rather_long_name | 1234567890123 |\n"
        "+--------------------+---------------+\n")


def test_probe_filter_matches_the_benchmark_or_the_probe_name():
    b = [("count", "bench:count", 3), ("lhist", "bench:lhist", 4)]
    assert bench.selected(b, None) == b
    assert bench.selected(b, "^co") == b[:1]
    assert bench.selected(b, "^bench:lh") == b[1:]
    assert bench.selected(b, "nothing") == []


def test_json_record():
    out = io.StringIO()
    JsonOutput(out, io.StringIO()).benchmark_results([("count", 40), ("my_loop", 124)])
    assert out.getvalue() == ('{"type": "benchmark_results", "data": '
                              '{"count": 40, "my_loop": 124}}\n')
