"""tp_btf in the lane's kernels: the helper's exec and syscalls seen
through args typed from BTF, and -lv. A kernel where BTF-enabled raw
tracepoints do not attach skips with the reason tp_btf_status gives."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.vmlane

N = 5
SYS_GETPPID = 110   # x86-64


@pytest.fixture(scope="module")
def tp_btf():
    from bpfscope.attach import rawtracepoint as rt
    why = rt.tp_btf_status()
    if why is not None:
        pytest.skip(f"tp_btf programs cannot be used here: {why}")


def test_listing_names_the_arguments(cli, tp_btf):
    r = cli("-lv", "tp_btf:sched_process_fork")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "tp_btf:vmlinux:sched_process_fork",
        "    struct task_struct * parent", "    struct task_struct * child"]


def test_exec_and_sys_enter_of_the_helper(cli, bse2e, tp_btf):
    r = cli("-c", f"{bse2e} getpid {N}", "-e",
            'tp_btf:sched_process_exec /args.old_pid == cpid/ '
            '{ printf("exec %d %s\\n", args->p->pid == cpid, args->p->comm); } '
            'tp_btf:sys_enter /pid == cpid/ { @[args.id] = count(); }')
    assert r.returncode == 0, r.stderr
    assert "exec 1 bse2e\n" in r.stdout
    assert f"@[{SYS_GETPPID}]: {N}\n" in r.stdout
