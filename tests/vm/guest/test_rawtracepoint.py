"""rawtracepoint in the lane's kernels: tp_btf programs with args named and
typed from BTF (6.1 has no __probestub_ functions, so the names come from
__traceiter_), the -lv listing, and the raw_tracepoint fallback."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.vmlane

N = 5
SYS_GETPPID = 110   # x86-64


def test_listing_names_the_arguments(cli):
    r = cli("-lv", "rawtracepoint:sched_process_fork")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "rawtracepoint:vmlinux:sched_process_fork",
        "    struct task_struct * parent", "    struct task_struct * child"]


@pytest.mark.parametrize("typed", [True, False])
def test_sys_enter_counts_the_helpers_getppid(cli, bse2e, typed):
    old = dict(os.environ)
    if not typed:
        os.environ["BPFSCOPE_NO_TP_BTF"] = "1"
    try:
        r = cli("-c", f"{bse2e} getpid {N}", "-e",
                'rawtracepoint:sys_enter /comm == "bse2e"/ { @[%s] = count(); }'
                % ("args.id" if typed else "arg1"))
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert r.returncode == 0, r.stderr
    assert f"@[{SYS_GETPPID}]: {N}\n" in r.stdout
