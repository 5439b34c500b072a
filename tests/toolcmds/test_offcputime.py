"""offcputime: the .bt script without options, bcc's options and layouts with them."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import MapData


def test_without_options_it_is_the_bt_tool(tool_plan):
    plan = tool_plan("offcputime")
    assert 'printf("Tracing off-CPU time... Hit Ctrl-C to end.\\n");' in plan.text
    assert plan.banner is None and not plan.formats and plan.pid is None


def test_thread_filters_limits_and_duration(tool_plan):
    plan = tool_plan("offcputime", "-p", "185", "-m", "1000", "-M", "9000", "--state", "2", "5")
    text = plan.text
    assert "  if (args.prev_pid != 0 && pid == 185 && (args.prev_state & 2) != 0) {" in text
    assert "if ($us >= 1000 && $us <= 9000) { @[@__kst[args.next_pid], @__ust[args.next_pid], " \
        "@__name[args.next_pid], args.next_pid] = sum($us); }" in text
    assert "interval:s:5 { exit(); }" in text and plan.pid == 185
    assert plan.banner == "Tracing off-CPU time (us) of PID 185 by user + kernel stack for 5 secs.\n"
    api.check_syntax(text)
    text = tool_plan("offcputime", "-u", "-K", "--state", "0").text
    assert "(curtask->flags & 0x200000) == 0 && args.prev_state == 0)" in text
    assert "ustack" not in text and "@[@__kst[args.next_pid], @__name" in text
    api.check_syntax(text)
    plan = tool_plan("offcputime", "-k", "-U")
    assert "(curtask->flags & 0x200000) != 0" in plan.text and "kstack" not in plan.text
    assert plan.banner == "Tracing off-CPU time (us) of kernel threads by user stack... " \
        "Hit Ctrl-C to end.\n"
    assert "args.prev_pid == 7" in tool_plan("offcputime", "-t", "7").text


@pytest.mark.parametrize("argv", [["-U", "-K"], ["-p", "1", "-t", "2"], ["-u", "-k"],
                                  ["-m", "x"], ["0"], ["--state", "-1"]])
def test_conflicting_or_bad_options(tool_plan, argv):
    with pytest.raises(SystemExit) as e:
        tool_plan("offcputime", *argv)
    assert e.value.code == 2


def _data():
    k = Stack("kernel", [1, 2], ["schedule+4", "do_nanosleep+1"])
    u = Stack("user", [3, 4], ["nanosleep+10", "main+3"], pid=9)
    return MapData("@", "sum", [((k, u, "app", 9), 400), ((k, u, "app", 10), 30)])


def test_multi_line_layout_smallest_first(tool_plan):
    plan = tool_plan("offcputime", "-d", "1")
    assert plan.formats["@"](_data()) == (
        "    schedule\n    do_nanosleep\n    --\n    nanosleep\n    main\n"
        "    -                app (10)\n        30\n\n"
        "    schedule\n    do_nanosleep\n    --\n    nanosleep\n    main\n"
        "    -                app (9)\n        400\n\n")


def test_folded_layout(tool_plan):
    plan = tool_plan("offcputime", "-f")
    assert plan.banner is None
    assert plan.formats["@"](_data()) == (
        "app;main;nanosleep;do_nanosleep;schedule 30\n"
        "app;main;nanosleep;do_nanosleep;schedule 400\n")
