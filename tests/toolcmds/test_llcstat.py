"""llcstat's script and table."""

from __future__ import annotations

import io

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds.common import ToolSink



def test_samples_stand_for_their_period(tool_plan):
    p = tool_plan("llcstat", "-c", "1000", "-t", "3")
    assert "hardware:cache-references:1000 { @ref[pid, tid, comm, cpu] = sum(1000); }" in p.text
    assert "hardware:cache-misses:1000 { @miss[pid, tid, comm, cpu] = sum(1000); }" in p.text
    assert "interval:s:3 { exit(); }" in p.text
    assert tool_plan("llcstat").banner == "Running for 10 seconds or hit Ctrl-C to end.\n"
    api.check_syntax(p.text)


def test_table_and_totals(tool_plan):
    p = tool_plan("llcstat")
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    sink.map(MapData("@ref", "sum", [((5, "app", 0), 1000), ((6, "sh", 1), 200)]))
    sink.map(MapData("@miss", "sum", [((5, "app", 0), 100), ((7, "x", 1), 100)]))
    assert out.getvalue().splitlines() == [
        "PID      NAME             CPU     REFERENCE         MISS    HIT%",
        "5        app              0            1000          100  90.00%",
        "6        sh               1             200            0 100.00%",
        "7        x                1               0          100   0.00%",
        "Total References: 1200 Total Misses: 200 Hit Rate: 83.33%"]
