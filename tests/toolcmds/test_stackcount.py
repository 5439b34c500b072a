"""stackcount's options, its script and bcc's stack layouts."""

from __future__ import annotations

from bpfscope import api
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import MapData


def test_keys_follow_the_stack_options(tool_plan):
    assert "@[kstack, ustack] = count();" in tool_plan("stackcount", "vfs_read").text
    assert "@[kstack] = count();" in tool_plan("stackcount", "-K", "vfs_read").text
    plan = tool_plan("stackcount", "-U", "-P", "-p", "5", "-D", "2", "c:malloc")
    assert "uprobe:/lib/libc.so.6:malloc /pid == 5/ {\n  @[ustack, comm, pid] = count();" in plan.text
    assert "interval:s:2 {" in plan.text and plan.pid == 5
    api.check_syntax(plan.text)


def _data():
    k = Stack("kernel", [0xffff1, 0xffff2], ["do_sys_open+12", "entry_64+3"])
    u = Stack("user", [0x401, 0x402], ["open+4", "0x402"], pid=7)
    empty = Stack("kernel", [], [])
    return MapData("@", "count", [((k, u, "app", 7), 5),
                                  ((empty, Stack("user", [0x9], ["leaf+1"], pid=7), "app", 7), 2)])


def test_multi_line_stacks_kernel_first_smallest_count_first(tool_plan):
    plan = tool_plan("stackcount", "-P", "-d", "vfs_read")
    assert plan.formats["@"](_data()) == (
        "  leaf\n    app [7]\n    2\n\n"
        "  do_sys_open\n  entry_64\n    --\n  open\n  [unknown]\n    app [7]\n    5\n\n")


def test_offsets_and_addresses(tool_plan):
    plan = tool_plan("stackcount", "-s", "-v", "-P", "-p", "7", "vfs_read")
    text = plan.formats["@"](_data())
    assert f"  {0xffff1:<16x} do_sys_open+12\n" in text and "app [7]" not in text


def test_folded_is_comm_user_then_kernel_root_first(tool_plan):
    plan = tool_plan("stackcount", "-f", "-P", "-d", "vfs_read")
    assert plan.banner is None and "Detaching" not in plan.text
    assert plan.formats["@"](_data()) == (
        "app;leaf 2\napp;[unknown];open;-;entry_64;do_sys_open 5\n")
