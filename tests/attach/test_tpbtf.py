"""Tests for bpfscope.attach.tpbtf without attaching: the spec forms,
expansion to BPF_TRACE_RAW_TP programs on the btf_trace_ typedef (the
running kernel's BTF and a hand-built module blob), wildcards, the
missing-probe errors, missing_probes and max_probes, the refusal where
tp_btf cannot work, -l/-lv and --info. Real runs are in
tests/e2e/test_rawtracepoint.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bpfscope import btf
from bpfscope.attach import kfuncs, providers, rawtracepoint as rt, tpbtf
from bpfscope.bpf.consts import AttachType
from bpfscope.errors import MissingProbe, SemanticError
from bpfscope.lang.parser import parse
from bpfscope.sema.probes import RAW_SLOTS, ArgField


def ap_of(text: str):
    """The attach point of ``TEXT {}`` as the parser makes it."""
    (probe,) = parse(text + " {}").probes
    return probe.attach_points[0]


@pytest.fixture
def ok(monkeypatch):
    """The running kernel's BTF, with tp_btf taken to work (no attach tried)."""
    try:
        btf.load_vmlinux()
    except btf.BtfError as e:
        pytest.skip(str(e))
    monkeypatch.setattr(rt, "tp_btf_status", lambda: None)


def test_registered_under_its_own_name():
    prov = providers.PROVIDERS["tp_btf"]
    assert isinstance(prov.real(), tpbtf.TpBtf)
    assert (prov.prog_type, prov.aliases, prov.listed) == ("tracing", {}, "")
    assert providers.provider_name(ap_of("tp_btf:sched_switch")) == "tp_btf"


@pytest.mark.parametrize("text", ["tp_btf:a:b:c", "tp_btf:"])
def test_spec_errors(text, ok):
    with pytest.raises(SemanticError) as ei:
        providers.expand(ap_of(text))
    assert ei.value.message == "tp_btf probe type requires 1 or 2 arguments ([module:]event)"
    assert ei.value.span is not None


def test_expand_typed(ok):
    [p] = providers.expand(ap_of("tp_btf:sched_process_exec"))
    kb = btf.load_vmlinux()
    assert (p.provider, p.name, p.prog_type, p.layout) == (
        "tp_btf", "tp_btf:vmlinux:sched_process_exec", "tracing", RAW_SLOTS)
    assert p.load == {"expected_attach_type": AttachType.TRACE_RAW_TP,
                      "attach_btf_id": kb.find("btf_trace_sched_process_exec", "typedef")}
    assert p.target == rt.RawTarget("vmlinux", "sched_process_exec", True)
    assert [(a.name, a.offset, a.size, a.kind, a.c_type) for a in p.args] == [
        ("p", 0, 8, "pointer", "struct task_struct *"),
        ("old_pid", 8, 4, "int", "pid_t"),
        ("bprm", 16, 8, "pointer", "struct linux_binprm *")]
    [q] = providers.expand(ap_of("tp_btf:vmlinux:sys_enter"))
    assert [(a.name, a.c_type) for a in q.args] == [
        ("regs", "struct pt_regs *"), ("id", "long int")]


def test_wildcards(ok):
    names = [p.name for p in providers.expand(ap_of("tp_btf:sched_process_*"))]
    assert {"tp_btf:vmlinux:sched_process_exec", "tp_btf:vmlinux:sched_process_fork",
            "tp_btf:vmlinux:sched_process_exit"} <= set(names)
    assert all(n.startswith("tp_btf:vmlinux:sched_process_") for n in names)
    assert names == sorted(names)
    assert [p.name for p in providers.expand(ap_of("tp_btf:vmlinux:sys_e*"))] == [
        "tp_btf:vmlinux:sys_enter", "tp_btf:vmlinux:sys_exit"]


def test_missing_names(ok):
    with pytest.raises(MissingProbe) as ei:
        providers.expand(ap_of("tp_btf:bpfscope_nope"))
    assert ei.value.message == "raw tracepoint not found: bpfscope_nope"
    with pytest.raises(MissingProbe) as ei:
        providers.expand(ap_of("tp_btf:bpfscope_nope*"))
    assert ei.value.message == "No matches for tp_btf:bpfscope_nope*"
    with pytest.raises(MissingProbe) as ei:
        providers.expand(ap_of("tp_btf:vmlinux:bpfscope_nope"))
    assert ei.value.message == "raw tracepoint not found in module vmlinux: bpfscope_nope"


def test_module_without_btf_said_once(ok):
    with pytest.raises(SemanticError) as ei:
        providers.expand(ap_of("tp_btf:bpfscope_nomod:sched_switch"))
    assert ei.value.message == ("module 'bpfscope_nomod' has no BTF (/sys/kernel/btf/"
                                "bpfscope_nomod is missing); is the module loaded?")


def test_refused_where_tp_btf_does_not_work(monkeypatch):
    monkeypatch.setattr(rt, "tp_btf_status", lambda: "this kernel has no BTF "
                        "(/sys/kernel/btf/vmlinux)")
    with pytest.raises(SemanticError) as ei:
        providers.expand(ap_of("tp_btf:sys_enter"))
    assert not isinstance(ei.value, MissingProbe)
    assert ei.value.message == (
        "tp_btf probes cannot be used here: this kernel has no BTF (/sys/kernel/btf/vmlinux);"
        " rawtracepoint:sys_enter gives arg0..argN without BTF")
    assert providers.listing("tp_btf:*") == []
    assert ("tp_btf", "no (this kernel has no BTF (/sys/kernel/btf/vmlinux))") in \
        providers.info_rows()


@pytest.fixture
def fake_module(monkeypatch, btf_enc):
    """A loaded module 'bsmod' whose BTF has tracepoint bsmod_ev (typed
    args named by its __probestub_), and tp_btf taken to work."""
    e = btf_enc.Enc()
    i64 = e.int("long", 8, signed=True)
    void_p = e.ptr(0)
    task_p = e.ptr(e.struct("task", 8, [("pid", e.int("int", 4, signed=True), 0)]))
    e.typedef("btf_trace_bsmod_ev", e.ptr(e.func_proto(0, [("", void_p), ("", task_p),
                                                          ("", i64)])))
    e.func("__probestub_bsmod_ev",
           e.func_proto(0, [("__data", void_p), ("t", task_p), ("n", i64)]))
    kb = e.btf()
    vm = btf_enc.Enc().btf()   # a vmlinux without that tracepoint
    monkeypatch.setattr(btf, "load_vmlinux", lambda: vm)
    monkeypatch.setattr(btf, "list_modules", lambda: ["bsmod"])
    monkeypatch.setattr(btf, "load_module", lambda m: kb if m == "bsmod" else None)
    monkeypatch.setattr(kfuncs, "module_btf_fd", lambda m: 77)
    monkeypatch.setattr(rt, "tp_btf_status", lambda: None)
    return kb


def test_module_tracepoint(fake_module):
    for text in ("tp_btf:bsmod:bsmod_ev", "tp_btf:bsmod_ev", "tp_btf:*:bsmod_*"):
        [p] = providers.expand(ap_of(text))
        assert p.name == "tp_btf:bsmod:bsmod_ev"
        assert p.load == {"expected_attach_type": AttachType.TRACE_RAW_TP,
                          "attach_btf_id": rt.own_event(fake_module, "bsmod_ev"),
                          "attach_btf_obj_fd": 77}
        assert p.args == [ArgField("t", 0, 8, False, "pointer", "struct task *"),
                          ArgField("n", 8, 8, True, "int", "long")]
    assert providers.listing("tp_btf:bsmod:*", True) == [
        "tp_btf:bsmod:bsmod_ev", "    struct task * t", "    long n"]


def test_compiles_args_argN_and_deref(ok):
    from bpfscope import api
    s = api.compile_script('tp_btf:sched_process_exec { @[args->p->pid, args.old_pid, '
                           'arg1, comm] = count(); }')
    [ps] = s.programs
    assert (ps.name, ps.prog_type) == ("tp_btf:vmlinux:sched_process_exec", "tracing")
    with pytest.raises(SemanticError, match="arg3: tp_btf:vmlinux:sched_process_exec has 3 "
                                            "arguments"):
        api.compile_script('tp_btf:sched_process_exec { @ = arg3; }')


def test_missing_probes_and_max_probes(ok):
    from bpfscope import api
    s = api.compile_script('config = { missing_probes = "ignore" } '
                           'tp_btf:bpfscope_nope, tp_btf:sys_enter { @ = count(); }')
    assert [p.name for p in s.programs] == ["tp_btf:vmlinux:sys_enter"]
    with pytest.raises(SemanticError, match="raw tracepoint not found: bpfscope_nope"):
        api.compile_script('tp_btf:bpfscope_nope, tp_btf:sys_enter { @ = count(); }')
    with pytest.raises(SemanticError, match="Can't attach to 2 probes because it exceeds "
                                            "the current limit of 1 probes."):
        api.compile_script('config = { max_probes = 1 } tp_btf:sys_e* { @ = count(); }')


def test_cli_listing():
    try:
        btf.load_vmlinux()
    except btf.BtfError as e:
        pytest.skip(str(e))
    if rt.tp_btf_status() is not None:
        pytest.skip(f"tp_btf does not work here: {rt.tp_btf_status()}")
    run = lambda *a: subprocess.run([sys.executable, "-m", "bpfscope.cli", *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    r = run("-lv", "tp_btf:sched_process_fork")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "tp_btf:vmlinux:sched_process_fork",
        "    struct task_struct * parent", "    struct task_struct * child"]
    r = run("-l", "tp_btf:vmlinux:sys_e*")
    assert r.stdout == "tp_btf:vmlinux:sys_enter\ntp_btf:vmlinux:sys_exit\n"
    all_tp = run("-l", "tp_btf:*").stdout.splitlines()
    assert all_tp == [x.replace("rawtracepoint:", "tp_btf:", 1)
                      for x in run("-l", "rawtracepoint:*").stdout.splitlines()]
    # a wildcard probe type lists bpftrace's types: rawtracepoint, not tp_btf again
    r = run("-l", "*:sched_process_fork")
    assert "rawtracepoint:vmlinux:sched_process_fork" in r.stdout
    assert "tp_btf:" not in r.stdout
