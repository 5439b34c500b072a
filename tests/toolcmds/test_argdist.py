"""argdist: specifiers -> the bpftrace script, and its tables and histograms."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds.cexpr import SpecError
from bpfscope.toolcmds.common import ToolError

pytestmark = pytest.mark.usefixtures("offline_specs")


def test_count_of_a_parameter_with_a_filter(tool_plan):
    plan = tool_plan("argdist", "-p", "1005", "-C",
                     "p:c:malloc(size_t size):size_t:size:size==16")
    assert ("uprobe:/lib/libc.so.6:malloc /pid == 1005/ {\n  $size = (uint64)arg0;\n"
            "  if ($size == 16) {\n    @__c0[(uint64)($size)] = count();\n  }\n}\n") in plan.text
    assert "interval:s:1 {\n" in plan.text and plan.pid == 1005
    assert 'printf("p:c:malloc(size_t size):size_t:size:size==16\\n\\tCOUNT      EVENT\\n");' \
        in plan.text
    api.check_syntax(plan.text)
    table = plan.formats["@__c0"](MapData("@__c0", "count", [((16,), 7), ((8,), 0)]))
    assert table == "\t7          size = 16\n"


def test_histogram_of_latency_per_byte(tool_plan):
    plan = tool_plan("argdist", "-H",
                     "r:c:malloc(size_t size):u64:$latency/$entry(size)#ns per byte")
    assert ("uprobe:/lib/libc.so.6:malloc {\n  $size = (uint64)arg0;\n"
            "  @__e0_size[tid] = $size;\n  @__lat_0[tid] = nsecs;\n}\n") in plan.text
    assert ("uretprobe:/lib/libc.so.6:malloc /has_key(@__e0_size, tid)/ {\n"
            "  @__h0 = hist((uint64)((nsecs - @__lat_0[tid]) / @__e0_size[tid]));\n"
            "  delete(@__e0_size[tid]);\n  delete(@__lat_0[tid]);\n}\n") in plan.text
    api.check_syntax(plan.text)
    hist = plan.formats["@__h0"](MapData("@__h0", "hist", [((), {4: 3})]))
    assert hist.splitlines()[0] == "     ns per byte         : count     distribution"
    assert hist.splitlines()[-1].startswith("         4 -> 7          : 3 ")


def test_kernel_return_values_are_as_wide_as_their_type(tool_plan):
    plan = tool_plan("argdist", "-C", "r::do_sys_openat2()", "r::do_sys_openat2():int:$retval",
                     "r::vfs_read():long:$retval:$retval < 0")
    assert "kretprobe:do_sys_openat2 {\n  @__c0[(int32)(((int32)retval))] = count();" in plan.text
    assert "@__c1[(int32)(((int32)retval))] = count();" in plan.text
    assert "  if (retval < 0) {\n    @__c2[(int64)(retval)] = count();" in plan.text


def test_defaults_strings_and_several_values(tool_plan):
    plan = tool_plan("argdist", "-z", "20", "-T", "1", "-c", "-i", "5", "-n", "3", "-C",
                     "p:c:free()#frees", "r:c:malloc()",
                     "t:syscalls:sys_enter_openat():char*,int:args->filename,$PID")
    assert "@__c0 = count();" in plan.text and "@__c1[(int32)(retval)] = count();" in plan.text
    assert "@__c2[str(args->filename, 20), (int32)((((uint64)pid << 32) | tid))] = count();" \
        in plan.text
    assert "clear(" not in plan.text and "interval:s:5 {" in plan.text
    assert "if (@__ticks >= 3) { exit(); }" in plan.text
    total = plan.formats["@__c0"](MapData("@__c0", "count", [((), 4)]))
    assert total == "\t4          total calls\n"
    assert plan.formats["@__c1"](MapData("@__c1", "count", [((0,), 1), ((-1,), 2)])) == \
        "\t2          retval = -1\n"          # -T 1: the top one
    assert plan.formats["@__c2"](MapData("@__c2", "count", [(("/etc", 9), 3)])) == \
        "\t3          args->filename = /etc, $PID = 9\n"
    api.check_syntax(plan.text)


@pytest.mark.parametrize("spec, message", [
    ("p:c", "at least the probe type, library, and function signature"),
    ("x:c:malloc()", "probe type must be 'p', 'r', 't', or 'u' but got 'x'"),
    ("p:c:malloc", "function signature 'malloc' has an invalid format"),
    ("p:c:malloc(size_t size):u64,u32:size", "mismatched # of exprs and types"),
    ("p:c:malloc(size_t size):foo_t:size", "unknown type 'foo_t'"),
    ("p:c:malloc(size_t size):u64:$entry(size)", "are for return probes"),
    ("r:c:malloc():u64:$entry(size)", "$entry(size): no such param"),
    ("r:c:malloc(size_t size):u64:size", "parameter 'size' is gone at the return"),
    ("p:c:nothere()", "no function nothere in c"),
    ("p:nolib:f()", "unable to find library nolib"),
    ("t:syscalls:sys_enter_openat(int x)", "take no signature"),
    ("p:c:malloc(size_t size):u64:size:a:b", "extraneous ':'-separated parts"),
])
def test_bad_specifiers_are_located(tool_plan, spec, message):
    with pytest.raises(SpecError) as e:
        tool_plan("argdist", "-C", spec)
    assert message in e.value.message
    lines = str(e.value).splitlines()
    assert lines[1] == f"    {spec}" and set(lines[2].strip()) == {"~"}


def test_histograms_need_one_expression(tool_plan):
    with pytest.raises(SpecError, match="histograms must have expr"):
        tool_plan("argdist", "-H", "p:c:malloc()")
    with pytest.raises(SpecError, match="histograms can only have 1 expr"):
        tool_plan("argdist", "-H", "p:c:malloc(size_t a, int b):u64,int:a,b")
    with pytest.raises(ToolError, match="at least one specifier"):
        tool_plan("argdist")


def test_under_p_the_end_reports_what_the_last_interval_did_not(tool_plan):
    spec = "p:c:malloc(size_t size):size_t:size"
    text = tool_plan("argdist", "-p", "1005", "-C", spec).text
    end = text[text.index("END {"):]
    assert end.startswith('END {\n  time("[%H:%M:%S]\\n");') and "print(@__c0);" in end
    text = tool_plan("argdist", "-p", "1005", "-n", "3", "-C", spec).text
    assert "END {\n  if (@__ticks < 3) { time(" in text     # -n's last report was the end
    api.check_syntax(text)
    assert "END" not in tool_plan("argdist", "-C", spec).text   # Ctrl-C: as bcc, no report


@pytest.mark.parametrize("args, ticks", [(["-d", "5", "-i", "2"], 3),     # 2, 4, 6 s: the last
                                         (["-d", "5", "-i", "2", "-n", "2"], 2),
                                         (["-d", "1"], 1)])
def test_duration_ends_after_the_report_that_reaches_it(tool_plan, args, ticks):
    plan = tool_plan("argdist", *args, "-C", "p:c:malloc(size_t size):size_t:size")
    assert f"if (@__ticks >= {ticks}) {{ exit(); }}" in plan.text
    api.check_syntax(plan.text)
