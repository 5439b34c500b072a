"""tp_btf probes against real events each test makes itself: exec and
fork of a process the test starts, read through ``args`` typed from BTF
(``->`` into struct task_struct and struct linux_binprm), ``argN``,
wildcards, sys_enter with the helper's syscalls, missing_probes = warn,
and a module's tracepoint where a loaded module's BTF has one."""

from __future__ import annotations

import pytest

from bpfscope import btf
from bpfscope.attach import rawtracepoint as rt

pytestmark = pytest.mark.usefixtures("kernel")

SYS_GETPPID = 110   # x86-64
EXIT_ON_CHILD = 'tracepoint:sched:sched_process_exit /pid == $1/ { exit(); }'


@pytest.fixture(scope="module")
def tp_btf():
    why = rt.tp_btf_status()
    if why is not None:
        pytest.skip(f"tp_btf programs cannot be used here: {why}")


def test_exec_task_and_binprm(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_prog('tp_btf:sched_process_exec /args.old_pid == cpid/ '
                     '{ printf("%d %d %s %s %d %s\\n", args->p->pid == cpid, '
                     'args.p->tgid == pid, args->p->comm, comm, arg0 == (uint64)args.p, '
                     'str(args->bprm->filename)); }',
                     "-c", f"{helper} getpid 1")
    assert r.stdout == f"1 1 bse2e bse2e 1 {helper}\n\n\n"


def test_fork_parent_and_child(e2e, helper, tp_btf, no_leaks):
    # sh forks to run the helper (the '; true' keeps it from exec'ing it)
    r = e2e.run_prog('tp_btf:sched_process_fork /pid == cpid/ '
                     '{ printf("%d %d %s %d\\n", args->parent->pid == cpid, '
                     'args->child->pid != cpid, args->child->comm, '
                     'args->child->real_parent == args.parent); }',
                     "-c", f"sh -c '{helper} getpid 1; true'")
    assert r.stdout == "1 1 sh 1\n\n\n"


def test_wildcard_names_each_probe(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_cli("-e", 'tp_btf:sched_process_e* /pid == cpid/ { @[probe] = count(); }',
                    "-c", f"{helper} getpid 1")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 2 probes\n"
    assert "@[tp_btf:vmlinux:sched_process_exec]: 1\n" in r.stdout, r.stdout
    assert "@[tp_btf:vmlinux:sched_process_exit]: 1\n" in r.stdout, r.stdout


def test_sys_enter_counts_the_helpers_syscalls(e2e, waiting, tp_btf, no_leaks):
    child = waiting("getpid", "7")
    t = e2e.Trace("-e", 'tp_btf:sys_enter /pid == $1/ { @[args.id, arg1 == args.id] = count(); } '
                  + EXIT_ON_CHILD, str(child.pid))
    assert child.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    assert f"@[{SYS_GETPPID}, true]: 7\n" in out, out


def test_missing_probe_warned_and_left_out(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_cli("-e", 'config = { missing_probes = "warn" } '
                    'tp_btf:bpfscope_nope, tp_btf:sched_process_exec /pid == cpid/ '
                    '{ printf("exec\\n"); }', "-c", f"{helper} getpid 1")
    assert r.returncode == 0, r.stderr
    assert "raw tracepoint not found: bpfscope_nope, skipping probe." in r.stderr
    assert "Attached 1 probe\n" in r.stderr
    assert r.stdout.startswith("exec\n"), r.stdout


def test_unknown_name_is_a_located_error(e2e, tp_btf):
    r = e2e.run_cli("-e", "tp_btf:bpfscope_nope { }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:1-21: ERROR: raw tracepoint not found: bpfscope_nope\n"
                        "tp_btf:bpfscope_nope { }\n"
                        "~~~~~~~~~~~~~~~~~~~~\n")


def test_module_tracepoint(e2e, tp_btf, no_leaks):
    mods = [m for m in btf.list_modules() if rt.own_events(btf.load_module(m))]
    if not mods:
        pytest.skip("no loaded kernel module with tracepoints in its BTF")
    m = mods[0]
    event = sorted(rt.own_events(btf.load_module(m)))[0]
    r = e2e.run_cli("-l", f"tp_btf:{m}:{event}")
    assert r.stdout == f"tp_btf:{m}:{event}\n"
    # it loads and attaches with the module's BTF object
    r = e2e.run_cli("-e", f"tp_btf:{m}:{event} {{ @ = count(); }} interval:ms:100 {{ exit(); }}")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 2 probes\n"
