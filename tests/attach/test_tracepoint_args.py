"""Tracepoint args typed from BTF (bpfscope.attach.tracepoint_args): the
record struct found by name or, for DEFINE_EVENT tracepoints, by layout;
int and pointer fields retyped, everything else as the format says;
hand-built BTF and formats, then the running kernel's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bpfscope import btf
from bpfscope.attach import tracefs, tracepoint_args as ta
from bpfscope.sema.probes import ArgField

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("btf_encoder", ROOT / "tests/btf/conftest.py")
_enc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_enc)

HEADER = """\
name: {name}
ID: 7
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

"""


def fmt(category: str, name: str, fields: str) -> tracefs.Format:
    return tracefs.parse_format_text(HEADER.format(name=name) + fields, category, name)


# a function pointer behind a typedef, a long the format calls unsigned,
# a char array and a __data_loc string
FIELDS = """\
\tfield:cb_t func;\toffset:8;\tsize:8;\tsigned:0;
\tfield:long delta;\toffset:16;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:24;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] path;\toffset:40;\tsize:4;\tsigned:0;
"""


@pytest.fixture
def kb(monkeypatch):
    e = _enc.Enc()
    i32 = e.int("int", 4, signed=True)
    i64 = e.int("long", 8, signed=True)
    u32 = e.int("unsigned int", 4)
    ch = e.int("char", 1, signed=True, char=True)
    ent = e.struct("trace_entry", 8, [("type", i32, 0), ("pid", i32, 32)])
    cb = e.typedef("cb_t", e.ptr(e.func_proto(i32, [])))
    members = [("ent", ent, 0), ("func", cb, 64), ("delta", i64, 128),
               ("comm", e.array(ch, 16), 192), ("__data_loc_path", u32, 320),
               ("__data", e.array(ch, 0), 352)]
    e.struct("trace_event_raw_solo", 48, members)          # a tracepoint of its own
    e.struct("trace_event_raw_ev_class", 48, members)        # a class of DEFINE_EVENTs
    # two classes of another subsystem with one layout
    e.struct("trace_event_raw_twin_a", 16, [("ent", ent, 0), ("x", i64, 64)])
    e.struct("trace_event_raw_twin_b", 16, [("ent", ent, 0), ("x", e.ptr(i32), 64)])
    kb = e.btf()
    monkeypatch.setattr(ta.btf, "load_vmlinux", lambda: kb)
    return kb


TYPED = [ArgField("func", 8, 8, False, "pointer", "cb_t"),
         ArgField("delta", 16, 8, True, "int", "long"),
         ArgField("comm", 24, 16, False, "char_array", "char", 16),
         ArgField("path", 40, 4, False, "data_loc_string", "char")]


def test_own_struct_types_the_fields(kb):
    f = fmt("demo", "solo", FIELDS)
    assert [(a.kind, a.signed) for a in ta.from_format(f)][:2] == [("int", False), ("int", False)]
    assert ta.typed_args(f) == TYPED


def test_define_event_found_by_layout(kb):
    # ev_member has no struct of its name; ev_class has its layout
    f = fmt("demo", "ev_member", FIELDS)
    assert kb.name_of(ta.record_struct(kb, f)) == "trace_event_raw_ev_class"
    assert ta.typed_args(f) == TYPED


def test_layout_must_match(kb):
    moved = FIELDS.replace("offset:16;", "offset:20;")
    f = fmt("demo", "solo", moved)
    assert ta.record_struct(kb, f) is None
    assert ta.typed_args(f) == ta.from_format(f)


def test_two_classes_of_one_layout_are_not_guessed(kb):
    f = fmt("twin", "twin_event", "\tfield:long x;\toffset:8;\tsize:8;\tsigned:0;\n")
    assert ta.record_struct(kb, f) is None
    assert ta.typed_args(f) == [ArgField("x", 8, 8, False, "int", "long")]


def test_syscalls_stay_as_the_format_says(kb):
    f = fmt("syscalls", "solo", FIELDS)
    assert ta.typed_args(f) == ta.from_format(f)


def test_without_btf(monkeypatch):
    def no_btf():
        raise btf.BtfError("no BTF here")
    monkeypatch.setattr(ta.btf, "load_vmlinux", no_btf)
    f = fmt("demo", "solo", FIELDS)
    assert ta.typed_args(f) == ta.from_format(f)


# ------------------------------------------------------------ the running kernel

def real(category: str, name: str) -> tracefs.Format:
    try:
        btf.load_vmlinux()
        return tracefs.read_format(category, name)
    except Exception as e:  # noqa: BLE001 - no BTF or no such tracepoint here
        pytest.skip(f"{category}:{name} with BTF is not available here: {e}")


def test_running_kernel_typedef_pointer():
    f = real("filelock", "generic_add_lease")
    by = {a.name: a for a in ta.typed_args(f)}
    assert f.field("owner").kind == "int"          # the format's text: fl_owner_t
    assert (by["owner"].kind, by["owner"].c_type) == ("pointer", "fl_owner_t")
    assert (by["i_ino"].kind, by["i_ino"].signed) == ("int", False)


def test_running_kernel_define_event():
    f = real("sched", "sched_wakeup")
    kb = btf.load_vmlinux()
    assert kb.name_of(ta.record_struct(kb, f)) == "trace_event_raw_sched_wakeup_template"
    assert [(a.name, a.kind, a.signed) for a in ta.typed_args(f)] == [
        ("comm", "char_array", False), ("pid", "int", True), ("prio", "int", True),
        ("target_cpu", "int", True)]


def test_typedef_pointer_type_in_scripts():
    real("filelock", "generic_add_lease")
    from bpfscope import api
    from bpfscope.errors import SemanticError
    with pytest.raises(SemanticError, match="Can not access field 'foo' on type 'void \\*'"):
        api.compile_script("tracepoint:filelock:generic_add_lease { @ = args.owner->foo; }")
