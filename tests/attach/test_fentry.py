"""Tests for bpfscope.attach.fentry without attaching: spec parsing, args
typed from a FUNC_PROTO (hand-built BTF and the running kernel's), the
fexit ``$retval`` slot, BTF wildcards, -l/-lv, and what this host says
about fentry. Real fentry/fexit runs are in tests/vm/guest/."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope import btf
from bpfscope.attach import fentry, kfuncs, providers
from bpfscope.bpf.consts import AttachType
from bpfscope.btf import kinds as K
from bpfscope.errors import SemanticError
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


# ------------------------------------------------------------ spec parsing

def test_spec_forms():
    assert fentry.parse_spec(ap_of("fentry:vfs_read"), "fentry") == (None, "vfs_read")
    assert fentry.parse_spec(ap_of("fexit:ext4:ext4_*"), "fexit") == ("ext4", "ext4_*")


@pytest.mark.parametrize("text, msg", [
    ("fentry:vfs_read+4", "fentry probes cannot take an offset (use kprobe:vfs_read+4)"),
    ("fentry:a:b:c", "fentry probe type requires 1 or 2 arguments, found 3"),
])
def test_spec_errors(text, msg):
    with pytest.raises(SemanticError) as ei:
        fentry.parse_spec(ap_of(text), "fentry")
    assert ei.value.message == msg


# ------------------------------------------------------------ args from BTF

@pytest.fixture
def kb():
    """int f(struct pair p, const char __user *name, enum mode m, bool b,
    long n); struct pair is 16 bytes, passed by value in two slots."""
    e = _enc.Enc()
    i32 = e.int("int", 4, signed=True)
    i64 = e.int("long", 8, signed=True)
    u8 = e.int("_Bool", 1, bool_=True)
    ch = e.int("char", 1, signed=True, char=True)
    pair = e.struct("pair", 16, [("a", i64, 0), ("b", i64, 64)])
    uchar = e.ptr(e.type_tag("user", e.const(ch)))
    mode = e.enum("mode", [("A", 0), ("B", 1)])
    bool_t = e.typedef("bool", u8)
    proto = e.func_proto(i32, [("p", pair), ("name", uchar), ("m", mode), ("b", bool_t),
                               ("n", i64)])
    e.func("f", proto)
    e.func("g", e.func_proto(0, [("x", i32)]))
    return e.btf()


def test_args_typed_from_the_prototype(kb):
    proto = fentry.signature(kb, kfuncs.own_func(kb, "f"))
    args = fentry.func_args(kb, proto, retprobe=False)
    assert args == [
        ArgField("p", 0, 16, False, "struct", "struct pair"),
        ArgField("name", 16, 8, False, "pointer", "const char *", user=True),
        ArgField("m", 24, 4, False, "int", "enum mode"),
        ArgField("b", 32, 1, False, "bool", "bool"),
        ArgField("n", 40, 8, True, "int", "long"),
    ]
    ret = fentry.func_args(kb, proto, retprobe=True)
    assert ret[:-1] == args
    assert ret[-1] == ArgField("$retval", 48, 4, True, "int", "int")


def test_void_function_has_no_retval(kb):
    proto = fentry.signature(kb, kfuncs.own_func(kb, "g"))
    assert [a.name for a in fentry.func_args(kb, proto, retprobe=True)] == ["x"]
    assert fentry.listing_lines(kb, proto) == ["    int x"]


def test_listing_lines(kb):
    proto = fentry.signature(kb, kfuncs.own_func(kb, "f"))
    assert fentry.listing_lines(kb, proto) == [
        "    struct pair p", "    const char * name", "    enum mode m", "    bool b",
        "    long n", "    int retval"]


def test_own_funcs(kb):
    assert kfuncs.own_funcs(kb) == {"f": kfuncs.own_func(kb, "f"), "g": kfuncs.own_func(kb, "g")}


def test_vfs_read_from_the_running_kernel():
    kb = vmlinux()
    fid = kfuncs.own_func(kb, "vfs_read")
    if fid is None:
        pytest.skip("no vfs_read in this kernel's BTF")
    args = fentry.func_args(kb, fentry.signature(kb, fid), retprobe=True)
    assert [(a.name, a.offset, a.size, a.kind) for a in args] == [
        ("file", 0, 8, "pointer"), ("buf", 8, 8, "pointer"), ("count", 16, 8, "int"),
        ("pos", 24, 8, "pointer"), ("$retval", 32, 8, "int")]
    assert args[0].c_type == "struct file *"
    assert (args[2].signed, args[4].signed) == (False, True)   # size_t, ssize_t


# ------------------------------------------------------------ expansion

@pytest.fixture
def fentry_ok(monkeypatch):
    vmlinux()
    monkeypatch.setattr(fentry, "fentry_status", lambda: None)


def test_expand_fentry(fentry_ok):
    [p] = providers.expand(ap_of("fentry:vfs_read"))
    kb = btf.load_vmlinux()
    assert (p.provider, p.name, p.func, p.context, p.is_return) == \
        ("fentry", "fentry:vmlinux:vfs_read", "vfs_read", "record", False)
    assert p.load == {"expected_attach_type": AttachType.TRACE_FENTRY,
                      "attach_btf_id": kfuncs.own_func(kb, "vfs_read")}
    assert p.arg("count").kind == "int" and p.arg("$retval") is None
    [r] = providers.expand(ap_of("kretfunc:vfs_read"))
    assert (r.provider, r.name, r.is_return) == ("fexit", "fexit:vmlinux:vfs_read", True)
    assert r.load["expected_attach_type"] == AttachType.TRACE_FEXIT
    assert r.arg("$retval").offset == 32


def test_expand_wildcard(fentry_ok, monkeypatch):
    monkeypatch.setattr(kfuncs, "traceable", lambda: frozenset({"vfs_read", "vfs_write"}))
    names = [p.name for p in providers.expand(ap_of("fentry:vfs_*"))]
    assert names == ["fentry:vmlinux:vfs_read", "fentry:vmlinux:vfs_write"]


def test_expand_errors(fentry_ok):
    with pytest.raises(SemanticError) as ei:
        providers.expand(ap_of("fentry:bpfscope_nope"))
    assert ei.value.message == ("function bpfscope_nope not found in BTF: "
                                "fentry:bpfscope_nope needs its BTF type information")
    with pytest.raises(SemanticError, match="No matches for fentry:bpfscope_nope"):
        providers.expand(ap_of("fentry:bpfscope_nope*"))


def test_compiles_args_and_loads_attrs(fentry_ok):
    from bpfscope import api
    s = api.compile_script('fentry:vfs_read { @[comm] = sum(args.count); } '
                           'fexit:vfs_read { @n = count(); }')
    assert [(p.name, p.prog_type) for p in s.programs] == [
        ("fentry:vmlinux:vfs_read", "tracing"), ("fexit:vmlinux:vfs_read", "tracing")]


# ------------------------------------------------------------ listing

def test_cli_listing():
    vmlinux()
    r = subprocess.run([sys.executable, "-m", "bpfscope.cli", "-lv", "fentry:vfs_read"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "fentry:vmlinux:vfs_read", "    struct file * file", "    char * buf",
        "    size_t count", "    loff_t * pos", "    ssize_t retval"]
    r = subprocess.run([sys.executable, "-m", "bpfscope.cli", "-l", "fexit:vfs_read"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout == "fexit:vmlinux:vfs_read\n"


# ------------------------------------------------------------ this host

def test_status_on_this_host():
    if os.geteuid() != 0:
        pytest.skip("needs root (the check loads a program)")
    fentry.fentry_status.cache_clear()
    why = fentry.fentry_status()
    assert why is None or why.startswith(("fentry attach is refused (",
                                          "this kernel does not support fentry (",
                                          "this kernel has no BTF"))


def test_switched_off(monkeypatch):
    monkeypatch.setenv("BPFSCOPE_NO_FENTRY", "1")
    fentry.fentry_status.cache_clear()
    try:
        assert fentry.fentry_status() == "fentry is switched off (BPFSCOPE_NO_FENTRY=1)"
    finally:
        fentry.fentry_status.cache_clear()


def test_wildcard_match_runs_over_several_blobs(monkeypatch):
    """A wildcard looks in vmlinux and every module: the second blob must
    be searched with the same lookup as the first (a regression: the
    list of hits once replaced the lookup function)."""
    from bpfscope.attach import kfuncs as F

    class Blob:
        def __init__(self, name):
            self.name = name

    blobs = {"vmlinux": Blob("vmlinux"), "mod1": Blob("mod1")}
    table = {"vmlinux": {"do_a": 1, "do_b": 2, "other": 3}, "mod1": {"do_c": 7}}
    monkeypatch.setattr(F, "_modules", lambda mod: ["vmlinux", "mod1"])
    monkeypatch.setattr(F, "btf_of", lambda m: blobs[m])
    got = F.match(None, "do_*", names=lambda kb: table[kb.name], one=None)
    assert got == [("vmlinux", "do_a", 1), ("vmlinux", "do_b", 2), ("mod1", "do_c", 7)]
