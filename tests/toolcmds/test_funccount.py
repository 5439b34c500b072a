"""funccount's options, the script they make and bcc's table layout."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.values import MapData


def test_script_counts_each_probe_and_reports_at_end(tool_plan):
    plan = tool_plan("funccount", "vfs_*")
    assert plan.text == (
        "config = { print_maps_on_exit = 0; show_debug_info = 0 }\n"
        "kprobe:vfs_read,\nkprobe:vfs_write {\n  @[probe] = count();\n}\n"
        'END {\n  printf("\\n");printf("FUNC                                    COUNT\\n");'
        'print(@); clear(@);printf("Detaching...\\n");\n}\n')
    assert plan.banner == 'Tracing 2 functions for "vfs_*"... Hit Ctrl-C to end.\n'
    assert plan.pid is None and not plan.json
    api.check_syntax(plan.text)


def test_interval_duration_pid_and_timestamps(tool_plan):
    plan = tool_plan("funccount", "-i", "2", "-d", "5", "-p", "42", "-T", "c:malloc")
    assert "uprobe:/lib/libc.so.6:malloc /pid == 42/ {" in plan.text
    # ceil(5 / 2) = 3 reports: two from the interval, the last one END's
    assert "interval:s:2 {\n  @__ticks = @__ticks + 1;\n  if (@__ticks >= 3) { exit(); }" in plan.text
    assert plan.text.count('time("%H:%M:%S\\n");') == 2
    assert plan.pid == 42     # user probes fire in that process only
    api.check_syntax(plan.text)


def test_duration_alone_is_one_report(tool_plan):
    text = tool_plan("funccount", "-d", "3", "t:sched:*").text
    assert "interval:s:3 {\n  @__ticks = @__ticks + 1;\n  if (@__ticks >= 1)" in text
    plan = tool_plan("funccount", "-p", "7", "t:sched:*")
    assert "sched_fork /pid == 7/" in plan.text and plan.pid == 7  # ends with the process


def test_json_prints_only_the_map(tool_plan):
    plan = tool_plan("funccount", "-j", "-i", "1", "vfs_read")
    assert plan.json and "printf" not in plan.text and "time(" not in plan.text
    api.check_syntax(plan.text)


def test_table_is_bccs_smallest_first_without_probe_types(tool_plan):
    plan = tool_plan("funccount", "t:*:*")
    data = MapData("@", "count", [(("tracepoint:sched:sched_fork",), 12),
                                  (("tracepoint:syscalls:sys_enter_open",), 3),
                                  (("fentry:vmlinux:other",), 0)])
    assert plan.formats["@"](data) == (
        "syscalls:sys_enter_open                     3\n"
        "sched:sched_fork                           12\n")


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: pattern"),
    (["-i", "0", "x"], "'0' must be greater than 0"),
    (["-p", "abc", "x"], "'abc' is not a number"),
])
def test_usage_errors(tool_plan, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        tool_plan("funccount", *argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_bpfscopes_f_json_where_the_tool_has_no_f_of_its_own(tool_plan):
    assert tool_plan("funccount", "-f", "json", "vfs_read").json
    assert not tool_plan("funccount", "-f", "text", "vfs_read").json
    plan = tool_plan("stackcount", "-f", "vfs_read")      # bcc's folded output there
    assert not plan.json and plan.banner is None


def test_cpu_filter(tool_plan):
    # bcc's -c CPU: with -p both must hold
    plan = tool_plan("funccount", "-c", "1", "-p", "7", "c:malloc")
    assert "uprobe:/lib/libc.so.6:malloc /pid == 7 && cpu == 1/ {" in plan.text
    assert " /cpu == 0/ {" in tool_plan("stackcount", "-c", "0", "c:malloc").text
