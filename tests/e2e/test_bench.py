"""bench: probes in --mode bench for real: each program runs many times
through BPF_PROG_TEST_RUN and the kernel's own run-time accounting gives
the nanoseconds printed; --probe-filter picks benchmarks; outside bench
mode they are ignored."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SCRIPT = ("bench:lhist { @a = lhist(rand % 10, 1, 10, 1); } "
          "bench:count { @b = count(); } "
          "bench:my_loop { $a = 0; for ($i : 0..10) { $a++; } }")


def test_the_table_of_bpftrace_026(e2e, no_leaks):
    r = e2e.run_cli("--bench", "-e", SCRIPT)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 3 probes\n"
    lines = r.stdout.split("\n")
    assert lines[:5] == ["", "", "+-----------+-------------+",
                         "| BENCHMARK | NANOSECONDS |", "+-----------+-------------+"]
    rows = [re.fullmatch(r"\| (\w+) +\| (\d+) +\|", line) for line in lines[5:8]]
    assert [m.group(1) for m in rows] == ["count", "lhist", "my_loop"]   # sorted
    assert all(0 < int(m.group(2)) < 100_000 for m in rows), r.stdout
    assert lines[8:] == ["+-----------+-------------+", ""]   # no maps printed


def test_json_record_and_probe_filter(e2e, no_leaks):
    r = e2e.run_cli("--mode", "bench", "-f", "json", "--probe-filter", "^(count|my_)",
                    "-e", SCRIPT)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert records[0]["type"] == "attached_probes"
    assert records[1]["type"] == "benchmark_results"
    assert list(records[1]["data"]) == ["count", "my_loop"]
    assert all(isinstance(v, int) and v > 0 for v in records[1]["data"].values())
    assert len(records) == 2


def test_bench_probes_are_ignored_outside_bench_mode(e2e, no_leaks):
    r = e2e.run_cli("-e", 'bench:x { printf("ran\\n"); } '
                    'interval:ms:100 { printf("tick\\n"); exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tick\n") and "ran" not in r.stdout


def test_bench_needs_a_name(e2e):
    r = e2e.run_cli("--bench", "-e", "bench { }")
    assert r.returncode == 1
    assert "ERROR: bench probe type requires 1 argument (bench:NAME)" in r.stderr
    assert "Traceback" not in r.stderr
