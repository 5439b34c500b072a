"""watchpoint: spec parsing and expansion (no kernel)."""

from __future__ import annotations

import pytest

from bpfscope.attach import watchpoint as wp
from bpfscope.attach.provider import ProbeOptions
from bpfscope.errors import SemanticError
from bpfscope.lang import ast
from bpfscope.sema.probes import PT_REGS, USER_REGS


def ap(text: str):
    return ast.AttachPoint(None, text, text.split(":"))


def test_user_address_with_a_pid():
    [p] = wp.Watchpoint().expand(ap("watchpoint:0x10000000:8:rw"), "watchpoint",
                                 ProbeOptions(pid=42))
    assert p.name == "watchpoint:0x10000000:8:rw"
    assert p.target == wp.WatchTarget(0x10000000, 8, 3, 42)
    assert p.layout == USER_REGS


def test_kernel_address_without_and_modes():
    [p] = wp.Watchpoint().expand(ap("aw:4096:4:w"), "asyncwatchpoint", ProbeOptions())
    assert p.name == "asyncwatchpoint:0x1000:4:w" and p.target.pid is None
    assert p.layout == PT_REGS
    assert wp.parse_mode("x", None) == 4 and wp.parse_mode("wr", None) == 3


@pytest.mark.parametrize("text, message", [
    ("watchpoint:0x1000:8", "watchpoint probe type requires 3 arguments "
                            "(watchpoint:ADDRESS:LENGTH:MODE)"),
    ("watchpoint:zz:8:w", "Invalid watchpoint address: zz"),
    ("watchpoint:0x1000:16:w", "watchpoint length must be one of (1,2,4,8)"),
    ("watchpoint:0x1000:8:ww", "watchpoint mode must be combination of (r,w,x)"),
    ("watchpoint:0x1000:8:rx", "watchpoint mode x cannot be combined with r or w"),
    ("watchpoint:0x1002:4:w", "watchpoint address 0x1002 is not aligned to its length (4)"),
])
def test_errors(text, message):
    with pytest.raises(SemanticError) as e:
        wp.Watchpoint().expand(ap(text), "watchpoint", ProbeOptions())
    assert e.value.message == message
