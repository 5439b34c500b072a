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
    assert "@bytes[ustack] = sum((int64)(@__req[tid])); @allocs[ustack] = sum(1);" in t
    assert "@bytes[@__stack[arg0]] = sum(-@__size[arg0]);" in t
    assert "if (@__ticks >= 3)" in t and "max_map_keys = 1000000" in t
    assert plan.pid == 7 and plan.banner == "Attaching to pid 7, Ctrl+C to quit.\n"
    api.check_syntax(t)


def test_a_command_and_the_kernel(tool_plan):
    plan = tool_plan("memleak", "-c", "./app")
    assert plan.cmd == "./app" and "/pid == cpid/" in plan.text
    kernel = tool_plan("memleak")
    assert "tracepoint:kmem:kmalloc, tracepoint:kmem:kmem_cache_alloc {" in kernel.text
    assert "@bytes[kstack] = sum((int64)(args.bytes_alloc))" in kernel.text and kernel.pid is None
    api.check_syntax(kernel.text)


def test_report_top_stacks_by_size(tool_plan):
    plan = tool_plan("memleak", "-p", "7", "-T", "1")
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
                        r"\t\t0x0000000000401000\tleak\+13\n\t\t0x0000000000007f00\t\[unknown\]\n",
                        text), text
