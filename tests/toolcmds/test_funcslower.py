"""funcslower's script and lines."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds.common import ToolError, ToolSink


def test_entry_keeps_arguments_and_return_sends_slow_calls(tool_plan):
    plan = tool_plan("funcslower", "-u", "50", "-a", "2", "-p", "4", "c:malloc", "c:free")
    assert "uprobe:/lib/libc.so.6:malloc,\nuprobe:/lib/libc.so.6:free /pid == 4/ {\n" \
           "  @__start[tid] = nsecs; @__a0[tid] = arg0; @__a1[tid] = arg1;" in plan.text
    assert "uretprobe:/lib/libc.so.6:malloc,\nuretprobe:/lib/libc.so.6:free /@__start[tid]/" in plan.text
    assert "if ($d >= 50000) {" in plan.text and plan.pid == 4
    assert plan.banner.startswith("Tracing function calls slower than 50 us... Ctrl+C to quit.\n"
                                  "COMM           PID    LAT(us)             RVAL FUNC ARGS\n")
    api.check_syntax(plan.text)


def test_the_line_and_the_stack(tool_plan):
    plan = tool_plan("funcslower", "-a", "1", "-U", "c:malloc")
    assert "if ($d >= 1000000) {" in plan.text and ", ustack);" in plan.text
    out = io.StringIO()
    ToolSink(TextOutput(out, io.StringIO()), plan).printf(
        "\x1eslow\x1fapp\x1f42\x1f2500000\x1f255\x1furetprobe:/lib/libc.so.6:malloc\x1f7\x1f10"
        "\x1f\n        main+5\n        0x7f00\n\n")
    assert out.getvalue() == ("app            42        2.50               ff malloc 0x10\n"
                              "    main+5\n    0x7f00\n")


def test_bad_arguments(tool_plan):
    with pytest.raises(ToolError, match="at most 6 arguments"):
        tool_plan("funcslower", "-a", "7", "c:malloc")
    with pytest.raises(SystemExit):
        tool_plan("funcslower", "-m", "1", "-u", "1", "c:malloc")
