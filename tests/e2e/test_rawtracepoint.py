"""rawtracepoint and tp_btf probes against real events each test makes
itself: tp_btf programs with ``args`` typed from BTF (``->`` into the
test's own child's struct task_struct and struct linux_binprm), and the
raw_tracepoint programs rawtracepoint uses without BTF (forced with
BPFSCOPE_NO_TP_BTF=1)."""

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


@pytest.mark.parametrize("provider", ["rawtracepoint", "tp_btf"])
def test_module_tracepoint(e2e, tp_btf, provider):
    mods = [m for m in btf.list_modules() if rt.own_events(btf.load_module(m))]
    if not mods:
        pytest.skip("no loaded kernel module with tracepoints in its BTF")
    m = mods[0]
    event = sorted(rt.own_events(btf.load_module(m)))[0]
    r = e2e.run_cli("-l", f"{provider}:{m}:{event}")
    assert r.stdout == f"{provider}:{m}:{event}\n"
    # it loads and attaches with the module's BTF object
    r = e2e.run_cli("-e", f"{provider}:{m}:{event} {{ @ = count(); }} "
                    "interval:ms:100 { exit(); }")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------ tp_btf:

@pytest.mark.parametrize("prog, cmd, expected", [
    ('tp_btf:sched_process_exec /args.old_pid == cpid/ '
     '{ printf("%d %d %s %s %d %s\\n", args->p->pid == cpid, args.p->tgid == pid, '
     'args->p->comm, comm, arg0 == (uint64)args.p, str(args->bprm->filename)); }',
     "{helper} getpid 1", "1 1 bse2e bse2e 1 {helper}\n"),
    # sh forks to run the helper (the '; true' keeps it from exec'ing it)
    ('tp_btf:sched_process_fork /pid == cpid/ '
     '{ printf("%d %d %s %d\\n", args->parent->pid == cpid, args->child->pid != cpid, '
     'args->child->comm, args->child->real_parent == args.parent); }',
     "sh -c '{helper} getpid 1; true'", "1 1 sh 1\n"),
], ids=["exec", "fork"])
def test_tp_btf_task_args_of_its_own_child(e2e, helper, tp_btf, no_leaks, prog, cmd, expected):
    r = e2e.run_prog(prog, "-c", cmd.format(helper=helper))
    assert r.stdout == expected.format(helper=helper) + "\n\n"


def test_tp_btf_wildcard_names_each_probe(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_cli("-e", 'tp_btf:sched_process_e* /pid == cpid/ { @[probe] = count(); }',
                    "-c", f"{helper} getpid 1")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 2 probes\n"
    assert "@[tp_btf:vmlinux:sched_process_exec]: 1\n" in r.stdout, r.stdout
    assert "@[tp_btf:vmlinux:sched_process_exit]: 1\n" in r.stdout, r.stdout


def test_tp_btf_sys_enter(e2e, waiting, tp_btf, no_leaks):
    out, _ = syscalls_of(e2e, waiting, 'tp_btf:sys_enter /pid == $1/ '
                         '{ @[args.id, arg1 == args.id, probe] = count(); }')
    assert f"@[{SYS_GETPPID}, true, tp_btf:vmlinux:sys_enter]: 6\n" in out, out


def test_tp_btf_missing_probe_warned_and_left_out(e2e, helper, tp_btf, no_leaks):
    r = e2e.run_cli("-e", 'config = { missing_probes = "warn" } '
                    'tp_btf:bpfscope_nope, tp_btf:sched_process_exec /pid == cpid/ '
                    '{ printf("exec\\n"); }', "-c", f"{helper} getpid 1")
    assert r.returncode == 0, r.stderr
    assert "raw tracepoint not found: bpfscope_nope, skipping probe." in r.stderr
    assert "Attached 1 probe\n" in r.stderr
    assert r.stdout.startswith("exec\n"), r.stdout


def test_tp_btf_unknown_name_is_a_located_error(e2e, tp_btf):
    r = e2e.run_cli("-e", "tp_btf:bpfscope_nope { }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:1-21: ERROR: raw tracepoint not found: bpfscope_nope\n"
                        "tp_btf:bpfscope_nope { }\n"
                        "~~~~~~~~~~~~~~~~~~~~\n")


def test_raw_tracepoint_that_is_not_there_is_dropped_with_a_warning(e2e, helper, no_leaks):
    # alone: nothing is left to attach (bpftrace 0.26's "No probes to attach")
    r = e2e.run_cli("-e", "rawtracepoint:bpfscope_nope { printf(\"hit\\n\"); }")
    assert r.returncode == 1
    assert r.stdout == "No probes to attach\n"
    assert r.stderr.startswith("stdin:1:1-28: WARNING: raw tracepoint not found: bpfscope_nope\n")
    # beside a probe that exists: that one runs
    r = e2e.run_cli("-e", "rawtracepoint:bpfscope_nope { printf(\"nope\\n\"); } "
                    "tracepoint:sched:sched_process_exec /pid == cpid/ { printf(\"exec\\n\"); }",
                    "-c", f"{helper} getpid 1")
    assert r.returncode == 0, r.stderr
    assert "WARNING: raw tracepoint not found: bpfscope_nope" in r.stderr
    assert r.stdout.startswith("exec\n") and "nope" not in r.stdout, r.stdout
