"""wakeuptime's script and bcc's layouts."""

from __future__ import annotations

from bpfscope import api
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import MapData



def test_block_starts_at_switch_out_and_ends_at_the_wakeup(tool_plan):
    p = tool_plan("wakeuptime", "-p", "5", "-u", "-m", "10", "-M", "99", "3")
    assert ("tracepoint:sched:sched_switch /args.prev_pid != 0 && pid == 5 && "
            "(curtask->flags & 0x00200000) == 0/ {") in p.text
    assert "if ($us >= 10 && $us <= 99) { @[args.comm, kstack, comm] = sum($us); }" in p.text
    assert "interval:s:3 { exit(); }" in p.text and p.pid == 5
    assert p.banner == "Tracing blocked time (us) by kernel stack for 3 secs.\n"
    api.check_syntax(p.text)


def test_layouts(tool_plan):
    data = MapData("@", "sum", [(("app", Stack("kernel", [0x10, 0x20], ["wake+1", "irq+2"]),
                                  "swapper/0"), 700)])
    assert tool_plan("wakeuptime").formats["@"](data) == (
        "    target:          app\n    10               wake\n    20               irq\n"
        "    waker:           swapper/0\n        700\n\n")
    folded = tool_plan("wakeuptime", "-f")
    assert folded.banner is None
    assert folded.formats["@"](data) == "swapper/0;irq;wake;app 700\n"
