"""memleak's probes and its report."""

from __future__ import annotations

import io
import re

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds.common import ToolSink


def test_user_allocators_of_one_process(tool_plan):
    plan = tool_plan("memleak", "-p", "7", "-z", "16", "1", "3")
    t = plan.text
    assert "uprobe:/lib/libc.so.6:calloc /pid == 7/ {\n  if (arg0 * arg1 >= 16) { @__req[tid] = arg0 * arg1; }" in t
    # realloc frees the old block first
    assert "uprobe:/lib/libc.so.6:realloc /pid == 7/ {\n  if (@__size[arg0]) {" in t
    assert "uretprobe:/lib/libc.so.6:malloc,\nuretprobe:/lib/libc.so.6:calloc," in t
    # by address, with its time (-o); no per-stack totals but with --combined-only
    assert "@__size[retval] = @__req[tid]; @__stack[retval] = ustack; @__ts[retval] = nsecs;" in t
    assert "@bytes" not in t and "print(@__size); print(@__stack); print(@__ts);" in t
    combined = tool_plan("memleak", "-p", "7", "--combined-only", "-s", "3").text
    assert "@bytes[ustack] = sum((int64)(@__req[tid])); @allocs[ustack] = sum(1);" in combined
    assert "@bytes[@__stack[arg0]] = sum(-@__size[arg0]);" in combined
    assert "@__ts" not in combined and "if (nsecs % 3 == 0) { @__req[tid] = arg0;" in combined
    api.check_syntax(combined)
    assert "if (@__ticks >= 3)" in t and "max_map_keys = 1000000" in t
    assert plan.pid == 7 and plan.banner == "Attaching to pid 7, Ctrl+C to quit.\n"
    api.check_syntax(t)


def test_a_command_and_the_kernel(tool_plan):
    plan = tool_plan("memleak", "-c", "./app")
    assert plan.cmd == "./app" and "/pid == cpid/" in plan.text
    kernel = tool_plan("memleak")
    assert "tracepoint:kmem:kmalloc, tracepoint:kmem:kmem_cache_alloc {" in kernel.text
    assert "@__stack[(uint64)args.ptr] = kstack; @__ts[(uint64)args.ptr] = nsecs;" in kernel.text
    assert kernel.pid is None
    api.check_syntax(kernel.text)


def test_report_top_stacks_by_size(tool_plan):
    plan = tool_plan("memleak", "-p", "7", "-T", "1", "--combined-only")
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), plan)
    big = Stack("user", [0x401000, 0x7f00], ["leak+13", "0x7f00"], pid=7)
    small = Stack("user", [0x402000], ["other+1"], pid=7)
    freed = Stack("user", [0x403000], ["churn+2"], pid=7)
    sink.printf("\x1etop\n")
    sink.map(MapData("@allocs", "sum", [((big,), 8), ((small,), 1), ((freed,), 0)]))
    sink.map(MapData("@bytes", "sum", [((big,), 12500), ((small,), 10), ((freed,), 0)]))
    text = out.getvalue()
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] Top 1 stacks with outstanding allocations:\n"
                        r"\t12500 bytes in 8 allocations from stack\n"
                        r"\t\tleak\+13\n\t\t\[unknown\]\n",
                        text), text


def _outstanding(plan, now_ns, allocs):
    """The report of ``allocs``: (address, size, stack, age in ms) each."""
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), plan)
    sink.printf("\x1etop\n")
    sink.map(MapData("@__size", "plain", [((a,), s) for a, s, _, _ in allocs]))
    sink.map(MapData("@__stack", "plain", [((a,), st) for a, _, st, _ in allocs]))
    sink.map(MapData("@__ts", "plain", [((a,), now_ns - age * 1_000_000)
                                       for a, _, _, age in allocs]))
    return out.getvalue().split("\n", 1)[1]


def test_report_by_address_ages_sort_and_show_allocs(tool_plan):
    import time
    now = time.monotonic_ns()
    one = Stack("user", [0x401000], ["leak+13"], pid=7)
    two = Stack("user", [0x402000], ["other+1"], pid=7)
    allocs = [(0x10, 100, one, 900), (0x20, 100, one, 800), (0x30, 5000, two, 700),
              (0x40, 7, one, 100)]     # younger than -o's 500 ms: left out
    text = _outstanding(tool_plan("memleak", "-p", "7", "-a"), now, allocs)
    assert text == ("\taddr = 10 size = 100\n\taddr = 20 size = 100\n\taddr = 30 size = 5000\n"
                    "\t200 bytes in 2 allocations from stack\n\t\t0x0000000000401000\tleak+13\n"
                    "\t5000 bytes in 1 allocations from stack\n\t\t0x0000000000402000\tother+1\n"
                    ), text
    # --sort count: the stack with most allocations last; -o 0 keeps the young one
    text = _outstanding(tool_plan("memleak", "-p", "7", "--sort", "count", "-o", "0"), now, allocs)
    assert text.index("5000 bytes in 1") < text.index("207 bytes in 3"), text


def test_bad_options(tool_plan, capsys):
    from bpfscope.toolcmds.common import ToolError
    import pytest
    for args in (["-z", "10", "-Z", "5"], ["--percpu", "-p", "7"], ["-o", "-1"]):
        with pytest.raises(ToolError):
            tool_plan("memleak", *args)
