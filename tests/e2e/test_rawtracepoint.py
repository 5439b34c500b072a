"""rawtracepoint probes against real events each test makes itself: tp_btf
programs with ``args`` typed from BTF, and the raw_tracepoint programs
used without BTF (forced with BPFSCOPE_NO_TP_BTF=1)."""

from __future__ import annotations

import re

import pytest

from bpfscope import btf
from bpfscope.attach import rawtracepoint as rt

pytestmark = pytest.mark.usefixtures("kernel")

EXIT_ON_CHILD = 'tracepoint:sched:sched_process_exit /pid == $1/ { exit(); }'
SYS_GETPID, SYS_GETPPID = 39, 110   # x86-64


@pytest.fixture(scope="module")
def tp_btf():
    why = rt.tp_btf_status()
    if why is not None:
        pytest.skip(f"tp_btf programs cannot be used here: {why}")


def syscalls_of(e2e, waiting, prog: str):
    child = waiting("getpid", "6")
    t = e2e.Trace("-e", prog + " " + EXIT_ON_CHILD, str(child.pid))
    assert child.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    return out, err


def test_sys_enter_gives_the_syscall_id(e2e, waiting, tp_btf, no_leaks):
    out, err = syscalls_of(e2e, waiting, 'rawtracepoint:sys_enter /pid == $1/ '
                           '{ @[args.id, arg1 == args.id, probe] = count(); }')
    assert err == "Attached 2 probes\n"
    assert f"@[{SYS_GETPID}, true, rawtracepoint:vmlinux:sys_enter]: 6\n" in out, out
    assert f"@[{SYS_GETPPID}, true, rawtracepoint:vmlinux:sys_enter]: 6\n" in out, out


def test_sys_enter_without_btf_types(e2e, waiting, no_leaks, monkeypatch):
    monkeypatch.setenv("BPFSCOPE_NO_TP_BTF", "1")   # the CLI child inherits it
    out, err = syscalls_of(e2e, waiting, 'rawtracepoint:sys_enter /pid == $1/ '
                           '{ @[arg1, probe] = count(); }')
    assert f"@[{SYS_GETPPID}, rawtracepoint:sys_enter]: 6\n" in out, out
    assert f"@[{SYS_GETPID}, rawtracepoint:sys_enter]: 6\n" in out, out


def test_without_btf_args_is_an_error(e2e, monkeypatch):
    monkeypatch.setenv("BPFSCOPE_NO_TP_BTF", "1")
    r = e2e.run_cli("-e", "rawtracepoint:sys_enter { @ = args.id; }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:31-35: ERROR: The args builtin can not be used with "
                        "'rawtracepoint' probes\n"
                        "rawtracepoint:sys_enter { @ = args.id; }\n"
                        "                              ~~~~\n")


def test_exec_args_typed(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_prog('rawtracepoint:sched_process_exec /args.old_pid == cpid/ '
                     '{ printf("%d %d %s %d\\n", pid == cpid, args.p == curtask, comm, '
                     'args.bprm != 0); }', "-c", f"{helper} getpid 1")
    assert r.stdout == "1 1 bse2e 1\n\n\n"


def test_fork_pointer_args(e2e, helper, tp_btf, no_leaks):
    # sh forks to run the helper (the '; true' keeps it from exec'ing it)
    r = e2e.run_prog('rawtracepoint:sched_process_fork /pid == cpid/ '
                     '{ printf("%d %d %d\\n", args.parent == curtask, '
                     'args.child != curtask, arg0 == (uint64)args.parent); }',
                     "-c", f"sh -c '{helper} getpid 1; true'")
    assert r.stdout == "1 1 1\n\n\n"


def test_bool_argument(e2e, waiting, tp_btf, no_leaks):
    # the helper sleeping is a voluntary switch: preempt is false
    child = waiting("sleep", "20")
    t = e2e.Trace("-e", 'rawtracepoint:sched_switch /args.prev->pid == $1/ '
                  '{ @[args.preempt] = count(); } ' + EXIT_ON_CHILD, str(child.pid))
    assert child.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    keys = set(re.findall(r"^@\[(.*)\]: \d+$", out, re.M))
    assert "false" in keys and keys <= {"false", "true"}, out


def test_module_tracepoint(e2e, tp_btf):
    mods = [m for m in btf.list_modules() if rt.own_events(btf.load_module(m))]
    if not mods:
        pytest.skip("no loaded kernel module with tracepoints in its BTF")
    m = mods[0]
    event = sorted(rt.own_events(btf.load_module(m)))[0]
    r = e2e.run_cli("-l", f"rawtracepoint:{m}:{event}")
    assert r.stdout == f"rawtracepoint:{m}:{event}\n"
    # it loads and attaches with the module's BTF object
    r = e2e.run_cli("-e", f"rawtracepoint:{m}:{event} {{ @ = count(); }} "
                    "interval:ms:100 { exit(); }")
    assert r.returncode == 0, r.stderr
