"""The tools' unit tests: patterns expand against fake listings (no kernel,
no files read); ``tool_plan(name, *argv)`` parses a tool's options and
builds its plan."""

from __future__ import annotations

import pytest

from bpfscope import toolcmds
from bpfscope.toolcmds import patterns

LISTINGS = {
    "kprobe:*": ["kprobe:vfs_read", "kprobe:vfs_write", "kprobe:do_sys_open"],
    "tracepoint:*": ["tracepoint:sched:sched_fork", "tracepoint:syscalls:sys_enter_open"],
    "uprobe:/lib/libc.so.6:*": ["uprobe:/lib/libc.so.6:malloc", "uprobe:/lib/libc.so.6:free"],
    "usdt:/lib/libc.so.6:*:*": ["usdt:/lib/libc.so.6:libc:setjmp"],
}


@pytest.fixture
def fake_probes(monkeypatch):
    monkeypatch.setattr(patterns, "_listed", lambda pattern, pid: LISTINGS.get(pattern, []))
    monkeypatch.setattr(patterns, "resolve_target",
                        lambda name, pid: ["/lib/libc.so.6"] if name in ("libc", "c") else [])


@pytest.fixture
def tool_plan(fake_probes):
    def plan(name, *argv):
        tool = toolcmds.find(name)
        return tool.build(tool.parser().parse_args(list(argv)))
    return plan


@pytest.fixture
def offline_specs(monkeypatch):
    """trace's and argdist's specifiers without the machine: their scripts
    (naming the fake files above) are not compiled, the only tracepoint
    is syscalls:sys_enter_openat, and the only kernel function whose BTF
    return type is known is do_sys_openat2 (an int)."""
    from bpfscope.toolcmds import cexpr
    monkeypatch.setattr(cexpr, "check_script", lambda *a, **k: None)
    monkeypatch.setattr(cexpr, "tracepoint_exists",
                        lambda cat, event: (cat, event) == ("syscalls", "sys_enter_openat"))
    monkeypatch.setattr(cexpr, "kernel_retval",
                        lambda f: "((int32)retval)" if f == "do_sys_openat2" else "retval")
