"""drsnoop's script, options and bcc's line layout."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import drsnoop
from bpfscope.toolcmds.common import ToolError, ToolSink


def plan(*argv):
    return drsnoop.build(drsnoop.parser().parse_args(list(argv)))


def test_filters_tid_over_pid_and_uid():
    text = plan("-t", "7", "-p", "9", "-u", "1000", "-d", "3").text
    assert "direct_reclaim_begin /tid == 7 && uid == 1000/ {" in text
    assert "pid == 9" not in text and "interval:s:3 { exit(); }" in text
    api.check_syntax(text)
    assert "direct_reclaim_begin {" in plan().text


def test_lines_as_bcc_prints_them():
    p = plan("-T", "-U", "-n", "ja")
    assert p.banner == "TIME(s)       UID   COMM           PID     LAT(ms) PAGES\n"
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    sink.printf("\x1edr\x1f5000000000\x1fjava\x1f11266\x1f11270\x1f0\x1f1720000\x1f57\x1f0\n")
    sink.printf("\x1edr\x1f5500000000\x1fsh\x1f1\x1f1\x1f0\x1f1\x1f1\x1f0\n")      # not "ja"
    sink.printf("\x1edr\x1f5500000000\x1fjava\x1f11266\x1f11270\x1f0\x1f2000\x1f3\x1f0\n")
    assert out.getvalue().splitlines() == [
        "0.000000000   0     java           11266      1.72    57",
        "0.500000000   0     java           11266      0.00     3"]
    assert plan("-t", "4").banner.startswith("COMM           TID ")


def test_verbose_needs_the_counters_address(monkeypatch):
    monkeypatch.setattr(drsnoop, "kallsyms_has", lambda name: False)
    with pytest.raises(ToolError, match="CONFIG_KALLSYMS_ALL"):
        plan("-v")
    monkeypatch.setattr(drsnoop, "kallsyms_has", lambda name: True)
    p = plan("-v")
    assert 'kaddr("vm_zone_stat")' in p.text and p.banner.endswith("PAGES  FREE(KB)\n")
    api.check_syntax(p.text)


def test_memcg_reclaim_too_unless_no_memcg():
    text = plan("-p", "9").text
    assert "mm_vmscan_memcg_reclaim_begin /pid == 9/ {" in text
    assert "mm_vmscan_memcg_reclaim_end /has_key(@__start1, tid)/ {" in text
    assert text.count('"memcg");') == 1 and text.count('"direct");') == 1
    assert plan("-p", "9").pid == 9                 # the trace ends with the process
    text = plan("--no-memcg").text
    assert "memcg" not in text and "direct_reclaim_end" in text
    api.check_syntax(text)
