"""profile's options, its script, banner and bcc's layouts."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import MapData


def test_defaults_sample_at_49_hertz_without_the_idle_task(tool_plan):
    plan = tool_plan("profile")
    assert plan.text.startswith("config = { print_maps_on_exit = 0; show_debug_info = 0 }\n"
                                "profile:hz:49 /pid != 0/ {\n  @[kstack, ustack, comm, pid] = count();")
    assert "interval" not in plan.text and plan.pid is None
    assert plan.banner == "Sampling at 49 Hertz of all threads by user + kernel stack... Hit Ctrl-C to end.\n"
    api.check_syntax(plan.text)


def test_options_make_the_probe_and_predicate(tool_plan):
    plan = tool_plan("profile", "-F", "99", "-p", "3,4", "-U", "-C", "1", "5")
    assert "profile:hz:99 /(pid == 3 || pid == 4) && pid != 0 && cpu == 1/ {\n  @[ustack, comm, pid]" in plan.text
    assert "interval:s:5 { exit(); }" in plan.text and plan.pid is None   # two pids: no -p
    assert plan.banner == "Sampling at 99 Hertz of PID 3,4 by user stack on CPU#1 for 5 secs.\n"
    plan = tool_plan("profile", "-c", "1000000", "-I", "-K", "-L", "12")
    assert "software:cpu-clock:1000000 /tid == 12/ {\n  @[kstack, comm, pid]" in plan.text
    assert plan.banner.startswith("Sampling every 1000000 events of TID 12 by kernel stack")
    assert tool_plan("profile", "-p", "8").pid == 8
    api.check_syntax(plan.text)


@pytest.mark.parametrize("argv", [["-U", "-K"], ["-F", "9", "-c", "9"], ["-p", "1", "-L", "2"],
                                  ["-p", "1,x"], ["0"]])
def test_conflicting_or_bad_options(tool_plan, argv):
    with pytest.raises(SystemExit) as e:
        tool_plan("profile", *argv)
    assert e.value.code == 2


def _data():
    k = Stack("kernel", [1, 2], ["irq_exit+4", "asm_irq+1"])
    u = Stack("user", [3, 4], ["spin+10", "main+3"], pid=9)
    return MapData("@", "count", [((k, u, "app", 9), 4),
                                  ((Stack("kernel", [], []), u, "app", 9), 30)])


def test_multi_line_layout(tool_plan):
    plan = tool_plan("profile", "-d", "-a")
    assert plan.formats["@"](_data()) == (
        "    irq_exit_[k]\n    asm_irq_[k]\n    --\n    spin\n    main\n"
        "    -                app (9)\n        4\n\n"
        "    spin\n    main\n    -                app (9)\n        30\n\n")


def test_folded_layout(tool_plan):
    plan = tool_plan("profile", "-f", "-d")
    assert plan.banner is None
    assert plan.formats["@"](_data()) == "app;main;spin;-;asm_irq;irq_exit 4\napp;main;spin 30\n"
