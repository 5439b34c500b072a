"""biotop's script and its rows."""

from __future__ import annotations

import io

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds.common import ToolSink



def test_requests_are_followed_from_start_to_done(tool_plan):
    p = tool_plan("biotop", "-p", "9", "2", "3")
    assert "tracepoint:block:block_io_start /pid == 9/ {" in p.text
    assert "@io[@__pid[$k], @__comm[$k], @__w[$k], args.dev >> 20, args.dev & 0xfffff] = count();" in p.text
    assert "if (@__ticks >= 3)" in p.text and p.pid == 9
    assert p.banner == "Tracing... Output every 2 secs. Hit Ctrl-C to end\n"
    api.check_syntax(p.text)
    assert "interval:s:1 {" in tool_plan("biotop").text        # bcc's default interval


def test_rows_most_bytes_first(monkeypatch, tool_plan):
    p = tool_plan("biotop", "-C", "-r", "2")
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    keys = [(10, "dd", 1, 254, 0), (11, "cat", 0, 254, 0), (12, "ls", 0, 8, 1)]
    sink.printf("\x1etop\n")
    sink.map(MapData("@io", "count", [(keys[0], 10), (keys[1], 2), (keys[2], 1)]))
    sink.map(MapData("@bytes", "sum", [(keys[0], 655360), (keys[1], 8192), (keys[2], 4096)]))
    sink.map(MapData("@us", "sum", [(keys[0], 1500), (keys[1], 300), (keys[2], 10)]))
    lines = out.getvalue().splitlines()
    assert lines[0] == "" and " loadavg: " in lines[1] and lines[2] == ""
    assert lines[3].split() == ["PID", "COMM", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"]
    assert lines[4].split()[:3] == ["10", "dd", "W"] and lines[4].split()[6:] == ["10", "640", "0.15"]
    assert lines[5].split()[:3] == ["11", "cat", "R"] and len(lines) == 6      # -r 2
