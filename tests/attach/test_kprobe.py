"""Tests for bpfscope.attach.kprobe without kprobes: spec parsing, the
function list and wildcard matching, the choice between kprobe and fentry
(statuses patched), and on this host (no kprobes, fentry refused) the
one-sentence error. Real attaching is tested in tests/vm/guest/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpfscope.arch import x86_64
from bpfscope.attach import fentry, kfuncs, kprobe, providers
from bpfscope.bpf.consts import AttachType
from bpfscope.errors import SemanticError
from bpfscope.lang.parser import parse

ROOT = Path(__file__).resolve().parents[2]


def ap_of(text: str):
    return parse(text + " {}").probes[0].attach_points[0]


def spec(text: str, provider: str = "kprobe"):
    return kprobe.parse_spec(ap_of(text), provider)


# ------------------------------------------------------------ spec parsing

def test_spec_forms():
    assert spec("kprobe:vfs_read") == kprobe.Spec(None, "vfs_read", 0)
    assert spec("kprobe:vfs_read+16") == kprobe.Spec(None, "vfs_read", 16)
    assert spec("kprobe:vfs_read+0x10") == kprobe.Spec(None, "vfs_read", 16)
    assert spec("kprobe:ext4:ext4_file_open") == kprobe.Spec("ext4", "ext4_file_open", 0)
    assert spec("kprobe:vfs_*") == kprobe.Spec(None, "vfs_*", 0)


@pytest.mark.parametrize("text, provider, msg", [
    ("kretprobe:vfs_read+4", "kretprobe", "Offset not allowed"),
    ("kprobe:vfs_read+4+4", "kprobe", "Cannot take more than one offset"),
    ("kprobe:vfs_read+x", "kprobe", "Invalid offset: x"),
    ("kprobe:vfs_*+4", "kprobe", "Cannot use wildcards with an offset"),
    ("kprobe:a:b:c", "kprobe", "kprobe probe type requires 1 or 2 arguments, found 3"),
])
def test_spec_errors(text, provider, msg):
    with pytest.raises(SemanticError) as ei:
        spec(text, provider)
    assert ei.value.message == msg
    assert ei.value.span is not None


def test_aliases_route_here():
    for alias, name in (("k", "kprobe"), ("kr", "kretprobe"), ("f", "fentry"),
                        ("fr", "fexit"), ("kfunc", "fentry"), ("kretfunc", "fexit")):
        assert providers.provider_name(ap_of(f"{alias}:vfs_read")) == name
        assert name in providers.PROVIDERS


# ------------------------------------------------------------ the function list

KALLSYMS = (b"ffffffff81000000 T _stext\n"
            b"ffffffff81001000 t __pfx_vfs_read\n"
            b"ffffffff81001010 T vfs_read\n"
            b"ffffffff81001100 T vfs_readv\n"
            b"ffffffff81001200 t vfs_rename.cold\n"
            b"ffffffff81001300 D vfs_data\n"
            b"ffffffff81001400 W vfs_weak\n"
            b"ffffffffc0001000 t ext4_file_open\t[ext4]\n"
            b"ffffffffc0002000 t vfs_read\t[fakemod]\n")


@pytest.fixture
def fake_kernel(monkeypatch):
    """kallsyms as above (available_filter_functions unreadable), no blacklist."""
    files = {kprobe.KALLSYMS: KALLSYMS}
    monkeypatch.setattr(kprobe, "_read", lambda path: files.get(path))
    kprobe.kernel_functions.cache_clear()
    kprobe.blacklist.cache_clear()
    yield files
    kprobe.kernel_functions.cache_clear()
    kprobe.blacklist.cache_clear()


def test_functions_from_kallsyms(fake_kernel):
    funcs = kprobe.kernel_functions()
    assert ("vmlinux", "vfs_read") in funcs
    assert ("ext4", "ext4_file_open") in funcs
    assert ("vmlinux", "vfs_weak") in funcs
    assert ("vmlinux", "vfs_data") not in funcs  # data, not text


def test_functions_from_available_filter_functions(fake_kernel):
    fake_kernel[kfuncs._AVAILABLE] = b"vfs_read\nvfs_write\next4_file_open [ext4]\n"
    assert kprobe.kernel_functions() == (("ext4", "ext4_file_open"),
                                         ("vmlinux", "vfs_read"), ("vmlinux", "vfs_write"))


def test_match(fake_kernel):
    fake_kernel[kprobe.BLACKLIST] = b"0xffffffff81001100-0xffffffff81001110\tvfs_readv\n"
    assert kprobe.match(None, "vfs_read") == [("vmlinux", "vfs_read")]
    assert kprobe.match("fakemod", "vfs_read") == [("fakemod", "vfs_read")]
    assert kprobe.match(None, "ext4_file_open") == [("ext4", "ext4_file_open")]
    assert kprobe.match(None, "nope") == []
    # wildcards: modules too; padding, .cold pieces and the blacklist left out
    assert kprobe.match(None, "vfs_*") == [("fakemod", "vfs_read"), ("vmlinux", "vfs_read"),
                                           ("vmlinux", "vfs_weak")]
    assert kprobe.match("ext*", "*") == [("ext4", "ext4_file_open")]


def test_unreadable_function_list_takes_a_name_as_is(monkeypatch):
    monkeypatch.setattr(kprobe, "_read", lambda path: None)
    kprobe.kernel_functions.cache_clear()
    try:
        assert kprobe.match(None, "whatever") == [("vmlinux", "whatever")]
        assert kprobe.match(None, "what*") == []
    finally:
        kprobe.kernel_functions.cache_clear()


def test_listing(fake_kernel):
    assert kprobe.list_probes("kprobe:vfs_*") == ["kprobe:fakemod:vfs_read", "kprobe:vfs_read",
                                                  "kprobe:vfs_readv", "kprobe:vfs_weak"]
    assert kprobe.list_probes("kr:ext4:*") == ["kretprobe:ext4:ext4_file_open"]
    assert kprobe.list_probes("kprobe:vfs_read") == ["kprobe:fakemod:vfs_read", "kprobe:vfs_read"]


# ------------------------------------------------------------ kprobes present

@pytest.fixture
def with_kprobes(monkeypatch, fake_kernel):
    monkeypatch.setattr(kprobe, "kprobe_status", lambda: None)
    monkeypatch.setattr(kprobe, "kprobe_multi_ok", lambda: True)
    monkeypatch.setattr(kprobe, "_pmu_type", lambda: 6)
    monkeypatch.delenv("BPFSCOPE_KPROBE_ATTACH", raising=False)


def expand(text):
    return providers.expand(ap_of(text))


def test_expand_one_function(with_kprobes):
    [p] = expand("kprobe:vfs_read+8")
    assert (p.provider, p.name, p.func, p.context, p.is_return) == \
        ("kprobe", "kprobe:vfs_read+8", "vfs_read", "regs", False)
    assert p.target == kprobe.KprobeTarget("vfs_read", 8, False, "pmu")
    assert p.load == {}
    [p] = expand("kr:fakemod:vfs_read")
    assert (p.provider, p.name, p.is_return) == ("kretprobe", "kretprobe:fakemod:vfs_read", True)
    assert p.target.symbol == "fakemod:vfs_read"


def test_expand_wildcard_uses_kprobe_multi(with_kprobes):
    probes = expand("kretprobe:vfs_*")
    assert [p.name for p in probes] == ["kretprobe:fakemod:vfs_read", "kretprobe:vfs_read",
                                        "kretprobe:vfs_readv", "kretprobe:vfs_weak"]
    # module functions go through the PMU, vmlinux ones through kprobe_multi
    assert [p.target.mode for p in probes] == ["pmu", "multi", "multi", "multi"]
    assert probes[1].load == {"expected_attach_type": AttachType.TRACE_KPROBE_MULTI}
    assert probes[0].load == {}


def test_expand_forced_mode(with_kprobes, monkeypatch):
    monkeypatch.setenv("BPFSCOPE_KPROBE_ATTACH", "tracefs")
    assert {p.target.mode for p in expand("kprobe:vfs_*")} == {"tracefs"}


@pytest.mark.parametrize("text, msg", [
    ("kprobe:nope_*", "No matches for kprobe:nope_*"),
    ("kprobe:nope", "kernel function not found: nope"),
    ("kprobe:ext4:vfs_read", "kernel function not found in module ext4: vfs_read"),
    ("kprobe:vfs_weak", "vfs_weak is on the kernel's kprobe blacklist: it cannot be probed"),
])
def test_expand_errors(with_kprobes, fake_kernel, text, msg):
    fake_kernel[kprobe.BLACKLIST] = b"0x1-0x2\tvfs_weak\n"
    with pytest.raises(SemanticError) as ei:
        expand(text)
    assert ei.value.message == msg
    assert ei.value.span is not None


# ------------------------------------------------------------ the kernel decides

def test_kprobe_runs_as_fentry_without_kprobes(monkeypatch, capsys, fresh_warnings):
    pytest.importorskip("bpfscope.btf").load_vmlinux()
    monkeypatch.setattr(kprobe, "kprobe_status", lambda: "kprobes are not built into this kernel")
    monkeypatch.setattr(fentry, "fentry_status", lambda: None)
    [p] = expand("kprobe:vfs_read")
    [r] = expand("kretprobe:vfs_read")
    expand("kprobe:vfs_read")
    assert (p.provider, p.name, p.context) == ("fentry", "kprobe:vfs_read", "record")
    assert p.load["expected_attach_type"] == AttachType.TRACE_FENTRY
    assert (r.provider, r.name) == ("fexit", "kretprobe:vfs_read")
    assert r.load["expected_attach_type"] == AttachType.TRACE_FEXIT
    assert capsys.readouterr().err == (
        "kprobes are not built into this kernel: kprobe probes run as fentry probes\n"
        "kprobes are not built into this kernel: kretprobe probes run as fexit probes\n")
    with pytest.raises(SemanticError, match="cannot take an offset"):
        expand("kprobe:vfs_read+4")
    with pytest.raises(SemanticError, match="function nope_nope not found in BTF"):
        expand("kprobe:nope_nope")


def test_fentry_runs_as_kprobe_without_fentry(monkeypatch, with_kprobes, capsys, fresh_warnings):
    pytest.importorskip("bpfscope.btf").load_vmlinux()
    monkeypatch.setattr(fentry, "fentry_status", lambda: "fentry attach is refused (EPERM)")
    [p] = expand("fentry:vfs_read")
    [r] = expand("fexit:vfs_read")
    assert (p.provider, p.name, p.context, p.target.mode) == \
        ("kprobe", "fentry:vmlinux:vfs_read", "regs", "pmu")
    # typed args, read from the argument registers
    assert [(a.name, a.offset, a.kind) for a in p.args] == [
        ("file", x86_64.REGS_ARGS[0], "pointer"), ("buf", x86_64.REGS_ARGS[1], "pointer"),
        ("count", x86_64.REGS_ARGS[2], "int"), ("pos", x86_64.REGS_ARGS[3], "pointer")]
    # retval typed as fexit types it (vfs_read returns ssize_t), from rax
    assert (r.provider, r.is_return) == ("kretprobe", True)
    assert [(a.name, a.offset, a.size, a.signed, a.kind) for a in r.args] == [
        ("$retval", x86_64.REGS_RETVAL, 8, True, "int")]
    assert "fentry attach is refused (EPERM): fentry probes run as kprobe probes\n" \
        in capsys.readouterr().err


def test_neither_works(monkeypatch):
    monkeypatch.setattr(kprobe, "kprobe_status", lambda: "kprobes are not built into this kernel")
    monkeypatch.setattr(fentry, "fentry_status", lambda: "fentry attach is refused (EPERM)")
    with pytest.raises(SemanticError) as ei:
        expand("kprobe:vfs_read")
    assert ei.value.message == ("kprobe:vfs_read cannot be attached: kprobes are not built "
                                "into this kernel and fentry attach is refused (EPERM)")
    with pytest.raises(SemanticError) as ei:
        expand("fexit:vfs_read")
    assert ei.value.message == ("fexit:vfs_read cannot be attached: fentry attach is refused "
                                "(EPERM) and kprobes are not built into this kernel")


# ------------------------------------------------------------ this host

def _host_lacks_both() -> str | None:
    if os.geteuid() != 0:
        return "needs root (the fentry check loads a program)"
    kprobe.kprobe_status.cache_clear()
    fentry.fentry_status.cache_clear()
    if kprobe.kprobe_status() is None or fentry.fentry_status() is None:
        return "this kernel has kprobes or fentry"
    return None


def test_host_error_in_one_sentence():
    why = _host_lacks_both()
    if why:
        pytest.skip(why)
    r = subprocess.run([sys.executable, "-m", "bpfscope.cli", "-e",
                        "BEGIN { } kretprobe:vfs_read { @ = retval; }"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        f"stdin:1:11-29: ERROR: kretprobe:vfs_read cannot be attached: "
        f"{kprobe.kprobe_status()} and {fentry.fentry_status()}",
        "BEGIN { } kretprobe:vfs_read { @ = retval; }",
        "          ~~~~~~~~~~~~~~~~~~"]
    assert "kprobes are not built into this kernel" in r.stderr
    # nothing was loaded: the error comes while expanding probes, before
    # any map or program exists (the fentry check closes its program)
