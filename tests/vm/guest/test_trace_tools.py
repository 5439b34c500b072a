"""trace and argdist (bpfscope/toolcmds) on kernel functions, which the
host may not have kprobes for: their scripts run in-process on the lane's
kernels, with the tool's own layout (ToolSink), against the helper's
openat calls of a missing file."""

from __future__ import annotations

import io
import subprocess

import pytest

from guestlib import N, NOPE

pytestmark = pytest.mark.vmlane


def _openat() -> str:
    """The kernel function every open goes through, by kernel version."""
    with open("/proc/kallsyms") as f:
        names = {line.split()[2] for line in f if len(line.split()) >= 3}
    return "do_sys_openat2" if "do_sys_openat2" in names else "do_sys_open"


def run_tool(name: str, argv: list[str], helper: list[str], ends: bool = False):
    """(exit code, stdout, stderr) of ``bpfscope NAME ARGV`` run in-process
    while ``helper`` runs once every probe is attached; then it stops
    (``ends``: it ends by itself)."""
    from bpfscope import api, toolcmds
    from bpfscope.output.text import TextOutput
    from bpfscope.toolcmds.common import ToolSink
    tool = toolcmds.find(name)
    plan = tool.build(tool.parser().parse_args(argv))
    out, err = io.StringIO(), io.StringIO()
    sink = ToolSink(TextOutput(out, err), plan)
    code = api.run(api.compile_script(plan.text), sink, duration=60,
                   on_attached=lambda: subprocess.run(helper, check=True, timeout=60),
                   should_stop=None if ends else (lambda: True))
    return code, out.getvalue(), err.getvalue()


def test_trace_kernel_function_entry_and_return(bse2e):
    fn = _openat()
    code, out, err = run_tool("trace", ["-n", "bse2e", f'{fn} "%s", arg2@user',
                                        f'r::{fn} (retval < 0) "failed %d", retval'],
                              [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    assert out.splitlines()[0].split() == ["PID", "TID", "COMM", "FUNC", "-"], out
    entries = [l for l in out.splitlines() if l.endswith(f" {NOPE}")]
    fails = [l for l in out.splitlines() if l.endswith(" failed -2")]
    assert len(entries) == N and len(fails) == N, out
    assert all(l.split()[2:4] == ["bse2e", fn] for l in entries + fails), out


def test_argdist_counts_kernel_function_returns(bse2e):
    fn = _openat()
    code, out, err = run_tool("argdist", ["-n", "1", "-C",
                                          f"r::{fn}():int:$retval:$retval == -2#failed opens"],
                              [bse2e, "open", NOPE, str(N)], ends=True)
    assert code == 0, err
    assert "\nfailed opens\n\tCOUNT      EVENT\n" in out, out
    counts = [int(l.split()[0]) for l in out.splitlines() if l.endswith("$retval = -2")]
    assert counts and counts[0] >= N, out
