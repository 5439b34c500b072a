"""tplist's listings, from faked tracepoint lists."""

from __future__ import annotations

from bpfscope.toolcmds import tplist


def test_tracepoints_filtered_by_glob_with_fields(monkeypatch, capsys):
    def listing(pattern, verbose=False, options=None):
        if pattern == "tracepoint:*":
            return ["tracepoint:sched:sched_fork", "tracepoint:syscalls:sys_enter_open"]
        assert verbose and pattern == "tracepoint:syscalls:sys_enter_open"
        return [pattern, "    int __syscall_nr", "    const char * filename"]
    monkeypatch.setattr(tplist.providers, "listing", listing)
    assert tplist.tracepoint_lines(None, 0) == ["sched:sched_fork", "syscalls:sys_enter_open"]
    assert tplist.tracepoint_lines("sys*:*", 1) == [
        "syscalls:sys_enter_open", "    int __syscall_nr;", "    const char * filename;"]
    plan = tplist.build(tplist.parser().parse_args(["sched:*"]))
    assert plan.run() == 0 and capsys.readouterr().out == "sched:sched_fork\n"
