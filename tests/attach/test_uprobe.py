"""Tests for bpfscope.attach.uprobe: spec parsing, target resolution and
expansion against small C and C++ programs compiled here (no kernel
needed), listing, and the Go-binary warning."""

from __future__ import annotations

import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from bpfscope.attach import providers, uprobe
from bpfscope.attach.uprobe import UprobeTarget, list_probes, parse_spec
from bpfscope.elf import ElfFile
from bpfscope.errors import SemanticError
from bpfscope.lang.parser import parse

C_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int known_func(int x) { asm volatile(""); return x * 2 + 1; }
__attribute__((noinline)) int known_other(int x) { asm volatile(""); return x + 7; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2) { char c; if (read(0, &c, 1) < 0) return 1; }
  long s = 0;
  for (int i = 0; i < n; i++) s += known_func(100 + i);
  s += known_other(3);
  printf("%ld\n", s);
  return 0;
}
"""

CXX_SRC = r"""
#include <cstdio>
namespace ns {
struct Klass {
  int v;
  __attribute__((noinline)) int method(int x) { asm volatile(""); return v + x; }
  __attribute__((noinline)) int method(int x, int y) { asm volatile(""); return v + x + y; }
  __attribute__((noinline)) int other() { asm volatile(""); return v; }
};
__attribute__((noinline)) int helper(long a) { asm volatile(""); return (int)a * 3; }
}
__attribute__((noinline)) int dispatch_command(const char *s, int n) { asm volatile(""); return n + (s ? 1 : 0); }
int main() {
  ns::Klass k{5};
  printf("%d\n", k.method(1) + k.method(1, 2) + k.other() + ns::helper(2) + dispatch_command("x", 1));
}
"""

FLAGS = ["-O0", "-fcf-protection=none", "-fno-omit-frame-pointer"]


def _compile(compiler: str, src: str, out) -> str:
    cc = shutil.which(compiler)
    if cc is None:
        pytest.skip(f"no {compiler} to build the uprobe test program")
    srcfile = out.with_suffix(".cpp" if compiler == "g++" else ".c")
    srcfile.write_text(src)
    subprocess.run([cc, *FLAGS, "-o", str(out), str(srcfile)], check=True,
                   capture_output=True)
    return str(out)


@pytest.fixture(scope="module")
def cprog(tmp_path_factory) -> str:
    return _compile("gcc", C_SRC, tmp_path_factory.mktemp("uprobe") / "cprog")


@pytest.fixture(scope="module")
def cxxprog(tmp_path_factory) -> str:
    return _compile("g++", CXX_SRC, tmp_path_factory.mktemp("uprobe") / "cxxprog")


def ap_of(text: str):
    return parse(text + " {}").probes[0].attach_points[0]


def expand(text: str, pid: int | None = None):
    return providers.expand(ap_of(text), providers.ProbeOptions(pid=pid))


def opts(pid=None):
    return SimpleNamespace(pid=pid)


# ------------------------------------------------------------ parsing

@pytest.mark.parametrize("text, want", [
    ("uprobe:/bin/x:f", ("/bin/x", "", "f", 0, None)),
    ("uprobe:/bin/x:f+16", ("/bin/x", "", "f", 16, None)),
    ("uprobe:/bin/x:f+0x10", ("/bin/x", "", "f", 16, None)),
    ("uprobe:/bin/x:0x4011a6", ("/bin/x", "", "", 0, 0x4011a6)),
    ("uprobe:/bin/x:4096", ("/bin/x", "", "", 0, 4096)),
    ("uprobe:/bin/x:read*", ("/bin/x", "", "read*", 0, None)),
    ('uprobe:./app:cpp:"ns::K::m"', ("./app", "cpp", "ns::K::m", 0, None)),
    ("uprobe:./app:cpp:ns::K::*", ("./app", "cpp", "ns::K::*", 0, None)),
    ("u:libc:malloc", ("libc", "", "malloc", 0, None)),
])
def test_parse_spec(text, want):
    ap = ap_of(text)
    s = parse_spec(ap, "uprobe", opts())
    assert (s.target, s.lang, s.func, s.offset, s.address) == want


def test_parse_spec_pid_lets_the_target_go():
    s = parse_spec(ap_of("uprobe:main"), "uprobe", opts(1))
    assert (s.target, s.func) == ("", "main")
    s = parse_spec(ap_of('uprobe:cpp:"a::b"'), "uprobe", opts(1))
    assert (s.target, s.lang, s.func) == ("", "cpp", "a::b")


@pytest.mark.parametrize("text, provider, msg", [
    ("uretprobe:/bin/x:f+4", "uretprobe", "Offset not allowed"),
    ("uprobe:/bin/x:f+4+4", "uprobe", "Cannot take more than one offset"),
    ("uprobe:/bin/x:f+zz", "uprobe", "Invalid offset: zz"),
    ("uprobe:/bin/x:rust:f", "uprobe", "unsupported language type: rust"),
    ("uprobe:f", "uprobe", "requires 2 or 3 arguments, found 1"),
    ("uprobe:/bin/*:0x10", "uprobe", "Cannot use wildcards with absolute address"),
])
def test_parse_spec_errors(text, provider, msg):
    with pytest.raises(SemanticError, match=msg.replace("+", r"\+")):
        parse_spec(ap_of(text), provider, opts())


# ------------------------------------------------------------ C program

def _code_at(path: str, offset: int, n: int = 1) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def test_function_probe(cprog):
    [p] = expand(f"uprobe:{cprog}:known_func")
    assert p.provider == "uprobe" and p.name == f"uprobe:{cprog}:known_func"
    assert p.func == "known_func" and p.context == "regs" and not p.is_return
    t = p.target
    assert isinstance(t, UprobeTarget) and t.path == cprog and t.pid is None
    assert not t.retprobe
    # -O0 with a frame pointer and no CET: the function opens with push %rbp
    assert _code_at(cprog, t.offset) == b"\x55"
    sym = ElfFile(cprog).symbols()
    vaddr = next(s.value for s in sym if s.name == "known_func")
    assert ElfFile(cprog).vaddr_to_offset(vaddr) == t.offset


def test_uretprobe(cprog):
    [p] = expand(f"ur:{cprog}:known_func")
    assert p.provider == "uretprobe" and p.is_return and p.target.retprobe
    assert p.name == f"uretprobe:{cprog}:known_func"


def test_offset_and_address(cprog):
    [base] = expand(f"uprobe:{cprog}:known_func")
    [off] = expand(f"uprobe:{cprog}:known_func+1")
    assert off.target.offset == base.target.offset + 1
    assert off.name == f"uprobe:{cprog}:known_func+1" and off.func == "known_func"
    elf = ElfFile(cprog)
    vaddr = next(s.value for s in elf.symbols() if s.name == "known_func")
    [a] = expand(f"uprobe:{cprog}:{vaddr + 1:#x}")
    assert a.target.offset == base.target.offset + 1
    assert a.name == f"uprobe:{cprog}:{vaddr + 1}" and a.func == "known_func"
    [d] = expand(f"uprobe:{cprog}:{vaddr}")
    assert d.target.offset == base.target.offset


def test_offset_and_address_errors(cprog):
    elf = ElfFile(cprog)
    vaddr = next(s.value for s in elf.symbols() if s.name == "known_func")
    with pytest.raises(SemanticError, match="Offset outside the function bounds"):
        expand(f"uprobe:{cprog}:known_func+100000")
    with pytest.raises(SemanticError, match=r"uretprobes cannot be attached at function "
                                            r"offset. \(address resolved to: known_func\+1\)"):
        expand(f"uretprobe:{cprog}:{vaddr + 1:#x}")
    with pytest.raises(SemanticError, match="Could not resolve address"):
        expand(f"uprobe:{cprog}:0x10")


def test_wildcard(cprog):
    ps = expand(f"uprobe:{cprog}:known_*")
    assert [p.name for p in ps] == [f"uprobe:{cprog}:known_func", f"uprobe:{cprog}:known_other"]
    assert [p.func for p in ps] == ["known_func", "known_other"]
    assert len({p.target.offset for p in ps}) == 2


def test_no_match(cprog):
    with pytest.raises(SemanticError, match=f"Could not resolve symbol: {cprog}:nosuch"):
        expand(f"uprobe:{cprog}:nosuch")
    with pytest.raises(SemanticError, match="No matches"):
        expand(f"uprobe:{cprog}:zz*")


def test_missing_file():
    with pytest.raises(SemanticError, match="uprobe target file '/nonexistent/x' does not "
                                            "exist or is not executable"):
        expand("uprobe:/nonexistent/x:f")


def test_relative_path(cprog, monkeypatch):
    monkeypatch.chdir(os.path.dirname(cprog))
    [p] = expand("uprobe:./cprog:known_func")
    # attached by its absolute path, named as written (as bpftrace 0.26)
    assert p.target.path == cprog and p.name == "uprobe:./cprog:known_func"


def test_path_lookup(cprog, monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(cprog))
    [p] = expand("uprobe:cprog:known_func")
    assert p.target.path == cprog


def test_library_by_name():
    try:
        [p] = expand("uprobe:libc:getpid")
    except SemanticError as e:
        pytest.skip(f"no libc found: {e}")
    assert os.path.basename(p.target.path).startswith("libc")
    assert p.name == f"uprobe:{p.target.path}:getpid" and p.func == "getpid"
    # with a pid, through the process's own mappings: the same library file
    [q] = expand("uprobe:libc:getpid", pid=os.getpid())
    assert os.path.samefile(q.target.path, p.target.path)
    assert q.target.pid == os.getpid() and q.target.offset == p.target.offset


def test_pid_without_target(cprog):
    proc = subprocess.Popen([cprog, "1", "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        [p] = expand("uprobe:known_func", pid=proc.pid)
        assert p.target.path == cprog and p.target.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------ C++ program

def test_cpp_quoted_name_matches_overloads(cxxprog):
    ps = expand(f'uprobe:{cxxprog}:cpp:"ns::Klass::method"')
    assert sorted(p.func for p in ps) == ["ns::Klass::method(int)",
                                         "ns::Klass::method(int, int)"]
    assert all(p.name.startswith(f"uprobe:{cxxprog}:cpp:_ZN2ns5Klass6method") for p in ps)


def test_cpp_with_params(cxxprog):
    [p] = expand(f'uprobe:{cxxprog}:cpp:"ns::Klass::method(int, int)"')
    assert p.func == "ns::Klass::method(int, int)"


def test_cpp_wildcard_unquoted(cxxprog):
    ps = expand(f"uprobe:{cxxprog}:cpp:ns::*")
    assert sorted(p.func for p in ps) == ["ns::Klass::method(int)", "ns::Klass::method(int, int)",
                                         "ns::Klass::other()", "ns::helper(long)"]


def test_plain_name_of_a_mangled_function(cxxprog):
    [p] = expand(f"uprobe:{cxxprog}:dispatch_command")
    assert p.func == "dispatch_command(char const*, int)"
    assert p.name == f"uprobe:{cxxprog}:_Z16dispatch_commandPKci"


def test_mangled_name_as_is(cxxprog):
    [p] = expand(f"uprobe:{cxxprog}:_ZN2ns6helperEl")
    assert p.func == "ns::helper(long)" and p.name == f"uprobe:{cxxprog}:_ZN2ns6helperEl"


def test_ambiguous_plain_name(cxxprog):
    with pytest.raises(SemanticError) as ei:
        expand(f'uprobe:{cxxprog}:"ns::Klass::method"')
    msg = ei.value.message
    assert "ambiguous" in msg
    assert "_ZN2ns5Klass6methodEi  (ns::Klass::method(int))" in msg
    assert "_ZN2ns5Klass6methodEii  (ns::Klass::method(int, int))" in msg


def test_cpp_wildcard_on_plain_names(cxxprog):
    # without cpp: a wildcard matches raw and demangled names
    ps = expand(f"uprobe:{cxxprog}:*helper*")
    assert [p.func for p in ps] == ["ns::helper(long)"]


# ------------------------------------------------------------ listing

def test_list_plain(cprog):
    lines = list_probes(f"uprobe:{cprog}:known*")
    assert lines == [f"uprobe:{cprog}:known_func", f"uprobe:{cprog}:known_other"]
    everything = list_probes(f"uprobe:{cprog}:*")
    assert everything == sorted(everything) and f"uprobe:{cprog}:main" in everything
    assert list_probes(f"uprobe:{cprog}") == everything


def test_list_cpp(cxxprog):
    assert f"uprobe:{cxxprog}:_ZN2ns6helperEl" in list_probes(f"uprobe:{cxxprog}:*")
    lines = list_probes(f"uprobe:{cxxprog}:cpp:ns::*")
    assert lines == [f'uprobe:{cxxprog}:cpp:"ns::Klass::method(int)"',
                     f'uprobe:{cxxprog}:cpp:"ns::Klass::method(int, int)"',
                     f'uprobe:{cxxprog}:cpp:"ns::Klass::other()"',
                     f'uprobe:{cxxprog}:cpp:"ns::helper(long)"']


# ------------------------------------------------------------ Go binaries

def test_go_binary_warning(cprog, tmp_path, capsys, monkeypatch, fresh_warnings):
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.skip("no objcopy to fake a Go binary")
    note = tmp_path / "note"
    note.write_bytes(b"\x04\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00Go\x00\x00abcd")
    gobin = tmp_path / "gobin"
    subprocess.run([objcopy, "--add-section", f".note.go.buildid={note}", cprog, str(gobin)],
                   check=True, capture_output=True)
    assert uprobe.is_go_binary(ElfFile(str(gobin)))
    assert not uprobe.is_go_binary(ElfFile(cprog))
    expand(f"uprobe:{gobin}:known_func")
    assert capsys.readouterr().err == ""
    expand(f"uretprobe:{gobin}:known_func")
    expand(f"uretprobe:{gobin}:known_other")
    err = capsys.readouterr().err
    assert err.count("WARNING:") == 1 and "Go" in err and "stacks" in err


def test_missing_function_named_with_the_path_as_written(cprog, monkeypatch):
    # bpftrace 0.26 says "Could not resolve symbol: ./prog:f", the path as
    # the script wrote it, not the one it resolved to
    monkeypatch.chdir(os.path.dirname(cprog))
    with pytest.raises(SemanticError) as ei:
        expand(f"uprobe:./{os.path.basename(cprog)}:nosuch")
    assert ei.value.message == f"Could not resolve symbol: ./{os.path.basename(cprog)}:nosuch"
