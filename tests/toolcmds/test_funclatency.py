"""funclatency's options, its script and bcc's histogram layout."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds import bccfmt


def test_entry_stamps_the_thread_and_return_adds_to_the_histogram(tool_plan):
    plan = tool_plan("funclatency", "-u", "-p", "9", "c:malloc")
    assert "uprobe:/lib/libc.so.6:malloc /pid == 9/ {\n  @__start[tid] = nsecs;\n}" in plan.text
    assert ("uretprobe:/lib/libc.so.6:malloc /@__start[tid]/ {\n"
            "  @ = hist((nsecs - @__start[tid]) / 1000);\n  delete(@__start[tid]);\n}") in plan.text
    assert plan.pid == 9
    api.check_syntax(plan.text)


def test_per_function_histograms_and_kernel_returns(tool_plan):
    plan = tool_plan("funclatency", "-F", "-m", "-i", "1", "vfs_*")
    assert "kretprobe:vfs_read,\nkretprobe:vfs_write /@__start[tid]/" in plan.text
    assert "@[probe] = hist((nsecs - @__start[tid]) / 1000000);" in plan.text
    api.check_syntax(plan.text)


def test_tracepoints_are_refused(tool_plan):
    from bpfscope.toolcmds.common import ToolError
    with pytest.raises(ToolError, match="does not trace tracepoints"):
        tool_plan("funclatency", "t:sched:sched_fork")


def test_units_exclude_each_other(tool_plan, capsys):
    with pytest.raises(SystemExit):
        tool_plan("funclatency", "-u", "-m", "vfs_read")
    assert "not allowed with argument" in capsys.readouterr().err


def test_histogram_and_average_as_bcc_prints_them(tool_plan):
    plan = tool_plan("funclatency", "-m", "c:malloc")
    # bpftrace buckets: 3 holds 2..3, 6 holds 16..31
    data = MapData("@", "hist", [((), {3: 2, 6: 3})], sums={(): 66})
    assert plan.formats["@"](data) == (
        "     msecs               : count     distribution\n"
        "         0 -> 1          : 0        |                                        |\n"
        "         2 -> 3          : 2        |**************************              |\n"
        "         4 -> 7          : 0        |                                        |\n"
        "         8 -> 15         : 0        |                                        |\n"
        "        16 -> 31         : 3        |****************************************|\n"
        "\navg = 13 msecs, total: 66 msecs, count: 5\n\n")
    assert plan.formats["@"](MapData("@", "hist", [])) == ""


def test_bcc_slots_put_zero_and_one_together_and_widen_past_32():
    assert bccfmt.slots({1: 4, 2: 1, 3: 2}) == {1: 5, 2: 2}
    wide = bccfmt.log2_hist({40: 1}, "nsecs")
    assert wide.startswith("               nsecs                         : count     distribution\n")
    assert wide.splitlines()[-1] == (
        f"{1 << 38:>20} -> {(1 << 39) - 1:<20} : 1        |{'*' * 20}|")


def test_level_keeps_a_stack_of_stamps_per_thread(tool_plan):
    from bpfscope import api
    from bpfscope.toolcmds.common import ToolError
    import pytest
    t = tool_plan("funclatency", "-l", "4", "-u", "c:malloc").text
    assert "if (@__depth[tid] < 4) { @__start[tid, @__depth[tid]] = nsecs; }" in t
    assert "@ = hist((nsecs - @__start[tid, @__depth[tid]]) / 1000);" in t
    assert "clear(@__depth);" in t
    api.check_syntax(t)
    with pytest.raises(ToolError):
        tool_plan("funclatency", "-l", "0", "c:malloc")
