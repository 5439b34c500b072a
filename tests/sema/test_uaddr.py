"""uaddr(): the symbol lookup, the pointer type by symbol size, how the
address is made (constant or ip-relative), and the errors; no kernel."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe

SRC = r"""
unsigned char b1 = 1;
unsigned short b2 = 2;
unsigned int b4 = 4;
unsigned long b8 = 8;
char text[] = "seventeen bytes!";
int tick(int i) { return i + b4; }
int main(void) { return tick(0); }
"""


def _build(tmp_path_factory, *flags) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the uaddr test program")
    d = tmp_path_factory.mktemp("uaddr")
    (d / "p.c").write_text(SRC)
    subprocess.run([gcc, "-O1", *flags, "-o", str(d / "p"), str(d / "p.c")],
                   check=True, capture_output=True)
    return str(d / "p")


@pytest.fixture(scope="module")
def pie(tmp_path_factory):
    return _build(tmp_path_factory, "-fPIE", "-pie")


@pytest.fixture(scope="module")
def nopie(tmp_path_factory):
    return _build(tmp_path_factory, "-fno-PIE", "-no-pie")


def symbol(path, name):
    from bpfscope.elf import SymbolTable
    return SymbolTable(path).lookup_one(name, functions_only=False).value


def analyze(src: str, binary: str, ret=False, bias=None, provider=None):
    site = symbol(binary, "tick")

    def expand(ap):
        if ap.parts[0] == "BEGIN":
            return [ExpandedProbe("BEGIN", "BEGIN", (), None, ap.span)]
        prov = provider or ("uretprobe" if ret else "uprobe")
        return [ExpandedProbe(prov, f"{prov}:{binary}:tick", (), None, ap.span,
                              func="tick", context="regs", is_return=ret, binary=binary,
                              site_vaddr=None if ret else site, load_bias=bias)]
    return Analyzer(parse(Source(src)), expand).run()


def uaddr_of(src, binary, **kw):
    an = analyze(f"uprobe:x:tick {{ {src}; }}", binary, **kw)
    return an.program.probes[0].body[-1].expr


@pytest.mark.parametrize("name, target", [("b1", "uint8"), ("b2", "uint16"), ("b4", "uint32"),
                                          ("b8", "uint64"), ("text", "uint64")])
def test_pointer_type_follows_symbol_size(pie, name, target):
    e = uaddr_of(f'uaddr("{name}")', pie)
    assert e.type == T.PointerType(target=target, user=True)


def test_pie_uprobe_is_ip_relative(pie):
    e = uaddr_of('uaddr("b4")', pie)
    assert (e.uaddr.base, e.uaddr.value) == ("ip", symbol(pie, "b4") - symbol(pie, "tick"))


def test_fixed_address_executable_is_constant(nopie):
    e = uaddr_of('uaddr("b4")', nopie, bias=0)
    assert (e.uaddr.base, e.uaddr.value) == ("abs", symbol(nopie, "b4"))
    e = uaddr_of('uaddr("text")', nopie, ret=True, bias=0)
    assert (e.uaddr.base, e.uaddr.value) == ("abs", symbol(nopie, "text"))


def test_uretprobe_with_known_bias(pie):
    e = uaddr_of('uaddr("b4")', pie, ret=True, bias=0x7f0000000000)
    assert (e.uaddr.base, e.uaddr.value) == ("abs", symbol(pie, "b4") + 0x7f0000000000)


def test_usdt_is_allowed(pie):
    e = uaddr_of('uaddr("b2")', pie, provider="usdt")
    assert e.uaddr.base == "ip"


def error(src, binary, **kw) -> SemanticError:
    with pytest.raises(SemanticError) as ei:
        analyze(src, binary, **kw)
    return ei.value


def test_errors(pie):
    e = error('BEGIN { $a = uaddr("b4"); }', pie)
    assert e.message == 'uaddr can not be used with "BEGIN" probes'
    assert (e.span.col, e.span.end_col) == (14, 25)
    e = error('uprobe:x:tick { $a = uaddr("nosuch"); }', pie)
    assert e.message == f"Could not resolve symbol: {pie}:nosuch"
    e = error('uprobe:x:tick { $a = uaddr(comm); }', pie)
    assert e.message == "uaddr() expects a string literal (string[16] provided)"



def test_uretprobe_of_a_program_uses_its_start_of_code(pie):
    from bpfscope.elf import ElfFile
    e = uaddr_of('uaddr("b4")', pie, ret=True)
    code = min(s.vaddr for s in ElfFile(pie).load_segments if s.flags & 1)
    assert (e.uaddr.base, e.uaddr.value) == ("exe", symbol(pie, "b4") - code)
    assert e.uaddr.inode == __import__("os").stat(pie).st_ino
    assert len(e.uaddr.kernel) == 5


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the uaddr test library")
    d = tmp_path_factory.mktemp("uaddr_lib")
    (d / "l.c").write_text(SRC.replace("int main(void) { return tick(0); }", ""))
    subprocess.run([gcc, "-O1", "-shared", "-fPIC", "-o", str(d / "libl.so"), str(d / "l.c")],
                   check=True, capture_output=True)
    return str(d / "libl.so")


def test_uretprobe_of_a_library_needs_a_pid(lib):
    e = error('uprobe:x:tick { $a = uaddr("b4"); }', lib, ret=True)
    assert "position-independent library" in e.message and "-p PID" in e.message
