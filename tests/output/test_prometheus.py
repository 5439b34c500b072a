"""Maps as Prometheus metrics (bpfscope.output.prometheus), without a
kernel: the map -> metric mapping, labels, cumulative le buckets, the
series limit, both exposition formats; promtool (Debian's prometheus
package) lints the text when it is installed."""

from __future__ import annotations

import shutil
from collections import Counter
import subprocess

import pytest

from bpfscope.output import prometheus as prom
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import AvgValue, MapData, StatsValue, hist_index


def _render(data, names=None, om=False, **kw):
    fams, dropped = prom.map_families(data, names, **kw)
    return prom.render(fams, om), dropped


def _hist(values, k=0) -> dict[int, int]:
    return dict(Counter(hist_index(v, k) for v in values))


def test_count_is_a_counter_named_after_the_map():
    text, _ = _render(MapData("@n", "count", [((), 321)]))
    assert text == ("# HELP bpfscope_n_total count() of @n\n"
                    "# TYPE bpfscope_n_total counter\n"
                    "bpfscope_n_total 321\n")
    om, _ = _render(MapData("@n", "count", [((), 321)]), om=True)
    assert om == ("# HELP bpfscope_n count() of @n\n# TYPE bpfscope_n counter\n"
                  "bpfscope_n_total 321\n# EOF\n")
    assert prom.metric_name("@") == "bpfscope_map"
    assert prom.metric_name("@a.b-c") == "bpfscope_a_b_c"


def test_keyless_maps_export_zero_before_the_first_event():
    text, _ = _render(MapData("@n", "count", []), keyless=True)
    assert text.endswith("bpfscope_n_total 0\n")
    text, _ = _render(MapData("@h", "hist", []), keyless=True)
    assert 'bpfscope_h_bucket{le="+Inf"} 0\nbpfscope_h_count 0\n' in text
    text, _ = _render(MapData("@c", "count", []))  # keyed: no series yet
    assert "bpfscope_c_total" not in text.split("counter\n")[1]


def test_gauges_and_keys_as_labels_named_from_the_script():
    data = MapData("@bytes", "sum", [(("bash", 3), -5), (('we"ird\\\n', 4), 7)])
    text, _ = _render(data, ["comm", "fd"])
    assert "# TYPE bpfscope_bytes gauge\n" in text
    assert 'bpfscope_bytes{comm="bash",fd="3"} -5\n' in text
    assert 'bpfscope_bytes{comm="we\\"ird\\\\\\n",fd="4"} 7\n' in text
    # reserved and unnamed label names
    text, _ = _render(MapData("@m", "max", [((1, (2, "x")), 9)]), ["le", "key1"])
    assert 'bpfscope_m{key_le="1",key1_0="2",key1_1="x"} 9' in text


def test_stacks_are_folded_root_first():
    st = Stack("kernel", [1, 2, 3], ["leaf+1", "mid+2", "root+3"])
    text, _ = _render(MapData("@k", "count", [((st,), 4)]), ["kstack"])
    assert 'bpfscope_k_total{kstack="root+3;mid+2;leaf+1"} 4' in text


def test_strings_as_values_are_not_exported():
    text, _ = _render(MapData("@s", "plain", [(("a",), "text"), (("b",), 5)]), ["k"])
    assert 'bpfscope_s{k="b"} 5' in text and "text" not in text.split("HELP")[1][20:]


def test_avg_and_stats_are_summaries():
    text, _ = _render(MapData("@a", "avg", [(("x",), AvgValue(30, 4))]), ["k"])
    assert "# TYPE bpfscope_a summary" in text
    assert 'bpfscope_a_sum{k="x"} 30\nbpfscope_a_count{k="x"} 4\n' in text
    text, _ = _render(MapData("@s", "stats", [((), StatsValue(3, 9))]))
    assert "bpfscope_s_sum 9\nbpfscope_s_count 3\n" in text


def test_hist_buckets_are_cumulative_with_integer_le():
    data = MapData("@h", "hist", [((), _hist([0, 1, 2, 3, 5, 100]))])
    text, _ = _render(data)
    lines = [line for line in text.splitlines() if line.startswith("bpfscope_h")]
    assert lines == ['bpfscope_h_bucket{le="0"} 1',    # [0, 1)
                     'bpfscope_h_bucket{le="1"} 2',    # [1, 2)
                     'bpfscope_h_bucket{le="3"} 4',    # [2, 4)
                     'bpfscope_h_bucket{le="7"} 5',
                     'bpfscope_h_bucket{le="15"} 5',
                     'bpfscope_h_bucket{le="31"} 5',
                     'bpfscope_h_bucket{le="63"} 5',
                     'bpfscope_h_bucket{le="127"} 6',
                     'bpfscope_h_bucket{le="+Inf"} 6',
                     'bpfscope_h_count 6']


def test_hist_sum_is_the_total_the_kernel_kept():
    data = MapData("@h", "hist", [(("a",), _hist([1, 2, 300])), (("b",), _hist([4]))],
                   sums={("a",): 303, ("b",): 4})
    text, _ = _render(data, ["k"])
    assert 'bpfscope_h_count{k="a"} 3\nbpfscope_h_sum{k="a"} 303\n' in text
    assert 'bpfscope_h_sum{k="b"} 4\n' in text
    # a map read without totals (not from the kernel) has none to give
    text, _ = _render(MapData("@h", "hist", [((), _hist([1]))]))
    assert "_sum" not in text


def test_hist_keeps_the_buckets_it_has_shown():
    seen: dict = {}
    _render(MapData("@h", "hist", [((), _hist([1, 1000]))]), hist_range=seen)
    text, _ = _render(MapData("@h", "hist", [((), _hist([8]))]), hist_range=seen)
    les = [line.split('"')[1] for line in text.splitlines() if "_bucket" in line]
    assert les[0] == "1" and les[-2] == "1023" and les[-1] == "+Inf"


def test_lhist_has_every_bucket_and_the_open_ends():
    counts = {0: 1, 1: 2, 3: 1, 5: 4}  # below 0, [0,10), [20,30), at or above 40
    text, _ = _render(MapData("@l", "lhist", [(("a",), counts)], lhist=(0, 40, 10)), ["k"])
    lines = [line for line in text.splitlines() if line.startswith("bpfscope_l")]
    assert lines == ['bpfscope_l_bucket{k="a",le="-1"} 1',
                     'bpfscope_l_bucket{k="a",le="9"} 3',
                     'bpfscope_l_bucket{k="a",le="19"} 3',
                     'bpfscope_l_bucket{k="a",le="29"} 4',
                     'bpfscope_l_bucket{k="a",le="39"} 4',
                     'bpfscope_l_bucket{k="a",le="+Inf"} 8',
                     'bpfscope_l_count{k="a"} 8']


def test_series_per_map_are_bounded_keeping_the_largest():
    data = MapData("@c", "count", [((i,), i) for i in range(50)])
    text, dropped = _render(data, ["pid"], max_series=10)
    assert dropped == 40
    kept = sorted(int(line.split('"')[1]) for line in text.splitlines()
                  if line.startswith("bpfscope_c_total{"))
    assert kept == list(range(40, 50))
    health = prom.render(prom.health_families({"probes": 2, "lost": 3}, True, {"@c": 40}))
    assert 'bpfscope_series_dropped{map="@c"} 40' in health
    assert "bpfscope_lost_events_total 3" in health and "bpfscope_probes_attached 2" in health


def test_scripts_of_one_name_merge_into_one_family():
    a, _ = prom.map_families(MapData("@n", "count", [((), 1)]), extra=[("script", "a.bt")])
    b, _ = prom.map_families(MapData("@n", "count", [((), 2)]), extra=[("script", "b.bt")])
    text = prom.render(a + b)
    assert text.count("# TYPE") == 1
    assert 'bpfscope_n_total{script="a.bt"} 1\nbpfscope_n_total{script="b.bt"} 2\n' in text


def test_accept_chooses_the_format():
    assert prom.wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert not prom.wants_openmetrics("text/plain;version=0.0.4")
    assert not prom.wants_openmetrics(None)


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool (Debian's prometheus package) is not installed")
def test_promtool_accepts_the_exposition():
    fams = []
    for data, names in [
            (MapData("@n", "count", [(("bash",), 3)]), ["comm"]),
            (MapData("@latency", "hist", [(("x",), _hist([1, 2, 300]))]), ["k"]),
            (MapData("@a", "avg", [((), AvgValue(3, 1))]), None),
            (MapData("@g", "sum", [((), 3)]), None)]:
        fams += prom.map_families(data, names)[0]
    fams += prom.health_families({"probes": 1, "missed": {"kprobe:f": 2}}, True, {})
    out = subprocess.run(["promtool", "check", "metrics"], input=prom.render(fams),
                         capture_output=True, text=True)
    # lint findings are printed; a parse error fails
    assert out.returncode == 0, out.stdout + out.stderr
