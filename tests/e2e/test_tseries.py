"""tseries() over real events: getppid calls of a child the test starts
(all in one interval of 10**18 ns, so the values are exact: interval
number 0 whatever the uptime, the case an interval longer than the uptime
makes) and interval
probes over several 100ms intervals (checked for their layout: the rows
follow each other by the interval, the values only grow, the last is the
last one recorded; no timing is asserted)."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

CHILD = f"{sys.executable} -c 'import os\nfor i in range(7): os.getppid()'"
GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ "


def graph_rows(text: str, name: str) -> list[tuple[str, str]]:
    """(time, value) of each row of map ``name``'s graph."""
    block = text.split(f"{name}:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^(\d\d:\d\d:\d\d(?:\.\d+)?) [|*].{51}[|*] (-?\d+|-)$", block, re.M)


def test_each_aggregation_of_one_interval(e2e):
    iv = 10**18
    r = e2e.run_cli("-q", "-c", CHILD, "-e", GETPPID + f"{{ @i++; @last = tseries(@i, {iv}, 3); "
                    f'@sum = tseries(@i, {iv}, 3, "sum"); @avg = tseries(@i, {iv}, 3, "avg"); '
                    f'@max["k"] = tseries(@i, {iv}, 3, "max"); @min = tseries(@i, {iv}, 3, "min"); }}'
                    " END { print(@sum); }", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    out = r.stdout
    assert "@i: 7\n" in out
    for name, want in (("@last", "7"), ("@sum", "28"), ("@avg", "4"), ("@max[k]", "7"),
                       ("@min", "1")):
        rows = graph_rows(out, name)
        assert [v for _, v in rows] == [want], (name, out)
        # one row: no interval between rows, so the time is shown to the ns
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{9}", rows[0][0])
    # print() in END, then the exit print: the same graph twice
    assert out.count("@sum:\n") == 2
    lo, hi = int("28") - 1, int("28") + 1
    assert f"\n{' ' * 19}{str(lo).ljust(21)}{str(hi).rjust(32)}\n" in out


def _secs(t: str) -> float:
    h, m, s = t.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_intervals_of_interval_probes(e2e):
    r = e2e.run_cli("-q", "-e", "interval:ms:20 { @i++; @ts = tseries(@i, 100ms, 50); "
                    "if (@i == 30) { exit(); } }", timeout=60)
    assert r.returncode == 0, r.stderr
    rows = graph_rows(r.stdout, "@ts")
    assert "hh:mm:ss.ms  |" + "_" * 51 + "|\n" in r.stdout
    assert len(rows) >= 2 and rows[-1][1] == "30"
    times = [_secs(t) for t, _ in rows]
    for a, b in zip(times, times[1:]):
        assert round((b - a) % 86400, 3) == 0.1
    vals = [int(v) for _, v in rows if v != "-"]
    assert vals == sorted(vals) and vals[0] >= 1


def test_the_json_record(e2e):
    r = e2e.run_cli("-q", "-f", "json", "-e", "interval:ms:20 { @i++; "
                    '@ts = tseries(@i, 100ms, 50, "sum"); if (@i == 20) { exit(); } }', timeout=60)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    ts = [rec for rec in recs if rec["type"] == "tseries"]
    assert len(ts) == 1
    points = ts[0]["data"]["@ts"]
    assert sum(p["value"] for p in points) == sum(range(1, 21))
    starts = [datetime.strptime(p["interval_start"][:26], "%Y-%m-%d %H:%M:%S.%f") for p in points]
    for a, b in zip(starts, starts[1:]):
        assert (b - a).total_seconds() * 10 == pytest.approx(round((b - a).total_seconds() * 10))
        assert b > a


def test_bad_arguments_are_located_errors(e2e):
    r = e2e.run_cli("-e", 'BEGIN { @ = tseries(1, 0, 10); }')
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "stdin:1:24-25: ERROR: tseries() interval_ns must be >= 1 (0 provided)" in r.stderr
