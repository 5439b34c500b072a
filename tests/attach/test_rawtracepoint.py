"""Tests for bpfscope.attach.rawtracepoint without attaching: btf_trace_
typedefs found and named (hand-built BTF and the running kernel's), args
typed like fentry's parameters minus ``__data``, spec errors, the
fallback to raw_tracepoint programs, -l/-lv. Real runs are in
tests/e2e/test_rawtracepoint.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope import btf
from bpfscope.attach import providers, rawtracepoint as rt
from bpfscope.bpf.consts import AttachType
from bpfscope.errors import MissingProbe, SemanticError
from bpfscope.lang.parser import parse
from bpfscope.sema.probes import ArgField

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("btf_encoder", ROOT / "tests/btf/conftest.py")
_enc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_enc)


def ap_of(text: str):
    return parse(text + " {}").probes[0].attach_points[0]


def vmlinux():
    try:
        return btf.load_vmlinux()
    except btf.BtfError as e:
        pytest.skip(str(e))


@pytest.fixture
def kb():
    """Two tracepoints as the kernel's BTF has them: a nameless prototype
    behind typedef btf_trace_<name>, and (for 'ev_named' only) a function
    __probestub_ev_named with the same parameters and their names."""
    e = _enc.Enc()
    i32 = e.int("int", 4, signed=True)
    i64 = e.int("long", 8, signed=True)
    void_p = e.ptr(0)
    task = e.struct("task", 8, [("pid", i32, 0)])
    task_p = e.ptr(task)
    named = e.func_proto(0, [("", void_p), ("", task_p), ("", i64)])
    e.typedef("btf_trace_ev_named", e.ptr(named))
    e.func("__probestub_ev_named",
           e.func_proto(0, [("__data", void_p), ("p", task_p), ("n", i64)]))
    bare = e.func_proto(0, [("", void_p), ("", i32)])
    e.typedef("btf_trace_ev_bare", e.ptr(bare))
    e.typedef("not_a_tracepoint", i32)
    return e.btf()


def test_events_of_a_blob(kb):
    assert sorted(rt.own_events(kb)) == ["ev_bare", "ev_named"]
    assert rt.own_event(kb, "ev_named") == rt.own_events(kb)["ev_named"]
    assert rt.own_event(kb, "not_a_tracepoint") is None


def test_args_named_from_the_probestub(kb):
    p = rt.proto(kb, rt.own_events(kb)["ev_named"])
    assert [(q.name, kb.type_name(q.type)) for q in p.params] == [
        ("p", "struct task *"), ("n", "long")]
    from bpfscope.attach import fentry
    assert fentry.func_args(kb, p, False) == [
        ArgField("p", 0, 8, False, "pointer", "struct task *"),
        ArgField("n", 8, 8, True, "int", "long")]
    assert fentry.listing_lines(kb, p) == ["    struct task * p", "    long n"]


def test_args_without_names_are_argN(kb):
    p = rt.proto(kb, rt.own_events(kb)["ev_bare"])
    assert [q.name for q in p.params] == [""]
    from bpfscope.attach import fentry
    assert fentry.func_args(kb, p, False) == [ArgField("arg0", 0, 4, True, "int", "int")]


@pytest.mark.parametrize("text", ["rawtracepoint:a:b:c", "rawtracepoint:"])
def test_spec_errors(text):
    with pytest.raises(SemanticError) as ei:
        rt.parse_spec(ap_of(text))
    assert ei.value.message == ("rawtracepoint probe type requires 1 or 2 arguments "
                                "([module:]event)")


def test_spec_forms():
    assert rt.parse_spec(ap_of("rawtracepoint:sched_switch")) == (None, "sched_switch")
    assert rt.parse_spec(ap_of("rt:vmlinux:sched_*")) == ("vmlinux", "sched_*")


# ------------------------------------------------------------ the running kernel

@pytest.fixture
def tp_btf_ok(monkeypatch):
    vmlinux()
    monkeypatch.setattr(rt, "tp_btf_status", lambda: None)


def test_expand_typed_from_the_running_kernel(tp_btf_ok):
    [p] = providers.expand(ap_of("rawtracepoint:sched_switch"))
    kb = btf.load_vmlinux()
    assert p.name == "rawtracepoint:vmlinux:sched_switch"
    assert p.prog_type == "tracing"
    assert p.load == {"expected_attach_type": AttachType.TRACE_RAW_TP,
                      "attach_btf_id": kb.find("btf_trace_sched_switch", "typedef")}
    assert [(a.name, a.offset, a.size, a.kind) for a in p.args] == [
        ("preempt", 0, 1, "bool"), ("prev", 8, 8, "pointer"), ("next", 16, 8, "pointer"),
        ("prev_state", 24, 4, "int")]
    [q] = providers.expand(ap_of("rt:vmlinux:sys_enter"))
    assert [(a.name, a.c_type, a.signed) for a in q.args] == [
        ("regs", "struct pt_regs *", False), ("id", "long int", True)]


def test_expand_wildcard_and_errors(tp_btf_ok):
    names = [p.name for p in providers.expand(ap_of("rawtracepoint:sched_process_*"))]
    assert "rawtracepoint:vmlinux:sched_process_fork" in names
    assert names == sorted(names) and len(names) > 3
    with pytest.raises(SemanticError, match="No matches for rawtracepoint:bpfscope_nope"):
        providers.expand(ap_of("rawtracepoint:bpfscope_nope*"))
    with pytest.raises(SemanticError, match="raw tracepoint not found: bpfscope_nope"):
        providers.expand(ap_of("rawtracepoint:bpfscope_nope"))


def test_without_btf_raw_tracepoint_programs(monkeypatch):
    monkeypatch.setattr(rt, "tp_btf_status", lambda: "no BTF")
    monkeypatch.setattr(rt, "untyped_events", lambda: ["sched_switch", "sys_enter"])
    [p] = providers.expand(ap_of("rawtracepoint:sys_enter"))
    assert (p.name, p.prog_type, p.args, p.load) == (
        "rawtracepoint:sys_enter", "raw_tracepoint", None, {})
    assert p.target == rt.RawTarget("", "sys_enter", False)
    with pytest.raises(SemanticError, match="raw tracepoint not found: nope"):
        providers.expand(ap_of("rawtracepoint:nope"))


def test_compiles_args_and_argN(tp_btf_ok):
    from bpfscope import api
    s = api.compile_script('rawtracepoint:sys_enter { @[args.id, arg1] = count(); }')
    [ps] = s.programs
    assert (ps.name, ps.prog_type) == ("rawtracepoint:vmlinux:sys_enter", "tracing")
    with pytest.raises(SemanticError, match="arg2: rawtracepoint:vmlinux:sys_enter has 2 "
                                            "arguments"):
        api.compile_script('rawtracepoint:sys_enter { @ = arg2; }')


def test_cli_listing():
    vmlinux()
    run = lambda *a: subprocess.run([sys.executable, "-m", "bpfscope.cli", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=ROOT, timeout=60)
    r = run("-lv", "rawtracepoint:sched_switch")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "rawtracepoint:vmlinux:sched_switch", "    bool preempt",
        "    struct task_struct * prev", "    struct task_struct * next",
        "    unsigned int prev_state"]
    r = run("-l", "rt:sched_process_fo*")
    assert r.stdout == "rawtracepoint:vmlinux:sched_process_fork\n"
    r = run("-l", "rawtracepoint:*")
    assert len(r.stdout.splitlines()) == len(rt.own_events(btf.load_vmlinux()))


def test_a_module_without_btf_is_said_once_without_a_second_error_prefix(tp_btf_ok):
    with pytest.raises(SemanticError) as ei:
        providers.expand(ap_of("rawtracepoint:bpfscope_nomod:sys_exit"))
    # bpftrace 0.26's words; a missing probe, so missing_probes applies
    assert isinstance(ei.value, MissingProbe)
    assert ei.value.message == "No BTF found for bpfscope_nomod:sys_exit."
    assert "ERROR" not in ei.value.format()[len("ERROR"):]
