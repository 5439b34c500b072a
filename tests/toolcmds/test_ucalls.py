"""ucalls: the probes it finds in a process's files, its script and table."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds import ucalls
from bpfscope.toolcmds.common import ToolError, ToolSink


@pytest.fixture
def python_process(monkeypatch):
    files = {"/usr/bin/python3.11": {"function__entry", "function__return", "line"},
             "/lib/libc.so.6": set()}
    monkeypatch.setattr(ucalls.usdt, "resolve_targets", lambda target, pid: list(files))
    monkeypatch.setattr(ucalls.usdt, "match",
                        lambda path, ns, name: [name] if name in files[path] else [])


def plan(*argv):
    return ucalls.build(ucalls.parser().parse_args(list(argv)))


def test_counts_calls_in_the_files_with_python_probes(python_process):
    p = plan("-T", "5", "42", "3")
    assert "usdt:/usr/bin/python3.11:python:function__entry /pid == 42/ {\n" \
           "  @[str(arg0), str(arg1)] = count();" in p.text
    assert "usdt:/usr/bin/python3.11:python:line /0/ { }" in p.text   # turns the probes on
    assert "libc" not in p.text and "interval:s:3 {" in p.text and p.pid == 42
    api.check_syntax(p.text)
    data = MapData("@", "count", [(("a.py", "f"), 9), (("b.py", "g"), 2)])
    assert p.formats["@"](data) == (f"{'METHOD':<50}  # CALLS\n"
                                    f"{'b.py.g':<50} {2:>8}\n{'a.py.f':<50} {9:>8}\n")


def test_latency_keeps_a_stack_of_entries_per_thread(python_process):
    p = plan("-L", "-m", "42")
    assert "@__start[tid, @__depth[tid]] = nsecs;" in p.text
    assert "@time[str(arg0), str(arg1)] = sum(nsecs - $t0);" in p.text
    api.check_syntax(p.text)
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    sink.map(MapData("@", "count", [(("a.py", "f"), 4)]))
    sink.map(MapData("@time", "sum", [(("a.py", "f"), 2_500_000)]))
    assert out.getvalue().splitlines()[-1].split() == ["a.py.f", "4", "2.50"]


def test_a_process_without_python_probes(monkeypatch):
    monkeypatch.setattr(ucalls.usdt, "resolve_targets", lambda target, pid: ["/bin/sh"])
    monkeypatch.setattr(ucalls.usdt, "match", lambda path, ns, name: [])
    with pytest.raises(ToolError, match="has no Python USDT probes"):
        plan("42")


def test_uflow_records_calls_and_returns_with_their_depth(python_process):
    from bpfscope.toolcmds import uflow
    p = uflow.build(uflow.parser().parse_args(["-M", "tw_", "42"]))
    assert "@__depth[tid] = @__depth[tid] + 1;\n  printf(\"\\x1ecall" in p.text
    assert "printf(\"\\x1ereturn" in p.text and "python:line /0/ { }" in p.text
    api.check_syntax(p.text)
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    sink.printf("\x1ecall\x1f1\x1f42\x1f43\x1f2500000\x1f2\x1fa.py\x1ftw_f\n")
    sink.printf("\x1ecall\x1f1\x1f42\x1f43\x1f2600000\x1f3\x1fa.py\x1fother\n")   # -M drops it
    sink.printf("\x1ereturn\x1f1\x1f42\x1f43\x1f3000000\x1f2\x1fa.py\x1ftw_f\n")
    assert out.getvalue() == ("1   42     43     0.003      -> a.py.tw_f\n"
                              "1   42     43     0.003      <- a.py.tw_f\n")


def test_syscalls_only(monkeypatch):
    from bpfscope import api, toolcmds
    from bpfscope.runtime.values import MapData
    from bpfscope.toolcmds.common import ToolError
    import pytest
    tool = toolcmds.find("ucalls")
    plan = tool.build(tool.parser().parse_args(["-l", "none", "-S", "-L", "42"]))
    assert "tracepoint:raw_syscalls:sys_exit /pid == 42 && @__sysstart[tid]/ {" in plan.text
    assert "usdt:" not in plan.text
    api.check_syntax(plan.text)
    plan.formats["@sys"](MapData("@sys", "count", [((39,), 5), ((0,), 2)]))
    text = plan.formats["@systime"](MapData("@systime", "sum", [((39,), 9000), ((0,), 1000)]))
    assert text.splitlines()[1:] == [f"{'read':<50} {2:>8} {1.0:>6.2f}",
                                     f"{'getpid':<50} {5:>8} {9.0:>6.2f}"], text
    with pytest.raises(ToolError):
        tool.build(tool.parser().parse_args(["-l", "none", "42"]))
