"""Tests for bpfscope.attach.usdt: spec parsing, expansion of a C program
with SystemTap SDT probes compiled here (every argument kind, a probe with
two sites, a semaphore, a provider-less name that two providers share),
argument conversion for PIE and non-PIE builds, listing, and the perf
event the attach opens (no kernel needed: perf_event_open is stubbed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpfscope.attach import providers, uprobe, usdt
from bpfscope.attach.usdt import UsdtTarget, convert_arg, list_probes, parse_spec
from bpfscope.elf import ElfFile
from bpfscope.elf.usdt import PT_REGS_X86_64, UsdtProbe, parse_arg_spec
from bpfscope.errors import KernelError, SemanticError
from bpfscope.lang.parser import parse

SDT_H = "/usr/include/x86_64-linux-gnu/sys/sdt.h"

MAIN_C = r"""
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

volatile long gcounter = 1000;
static const char *names[] = {"alpha", "beta", "gamma", "delta"};
long squares[8] = {0, 1, 4, 9, 16, 25, 36, 49};
extern unsigned short bstest_guarded_semaphore;
void guarded(int i);

__attribute__((noinline)) long work(int i, long big) {
  const char *s = names[i % 4];
  if (s[0] == 0) return 0;  /* read the string: an untouched page is not mapped in */
  DTRACE_PROBE3(bstest, tick, i, big, s);
  DTRACE_PROBE2(bstest, constant, 42, -i);
  DTRACE_PROBE1(bstest, indexed, squares[i & 7]);
  gcounter += i;
  DTRACE_PROBE1(bstest, global, gcounter);
  guarded(i);
  return big + i;
}

__attribute__((noinline)) void twice(int i) {
  DTRACE_PROBE1(bstest, multi, i);
  if (i & 1) DTRACE_PROBE1(bstest, multi, (long)i * 1000);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  long s = 0;
  for (int i = 0; i < n; i++) { s += work(i, -5000000000L * (i + 1)); twice(i); }
  DTRACE_PROBE(other, tick);
  printf("%ld %d\n", s, bstest_guarded_semaphore);
  return 0;
}
"""

# Only this file has semaphores (sdt.h gives every probe of a file one).
GUARDED_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
unsigned short bstest_guarded_semaphore __attribute__((unused, section(".probes")));
#define BSTEST_GUARDED_ENABLED() __builtin_expect(bstest_guarded_semaphore != 0, 0)
__attribute__((noinline)) void guarded(int i) {
  if (BSTEST_GUARDED_ENABLED())
    DTRACE_PROBE1(bstest, guarded, i * 3);
}
"""


def _build(d, name: str, *flags: str) -> str:
    gcc = shutil.which("gcc")
    if gcc is None or not os.path.exists(SDT_H):
        pytest.skip("needs gcc and <sys/sdt.h> (systemtap-sdt-dev)")
    (d / "main.c").write_text(MAIN_C)
    (d / "guarded.c").write_text(GUARDED_C)
    out = d / name
    subprocess.run([gcc, "-O2", *flags, "-o", str(out), str(d / "main.c"),
                    str(d / "guarded.c")], check=True, capture_output=True)
    return str(out)


@pytest.fixture(scope="module")
def prog(tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("usdt"), "sdtprog", "-pie", "-fPIE")


@pytest.fixture(scope="module")
def prog_nopie(tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("usdt"), "sdtprog_np", "-no-pie", "-fno-pie")


def ap_of(text: str):
    return parse(text + " {}").probes[0].attach_points[0]


def expand(text: str, pid: int | None = None):
    return providers.expand(ap_of(text), providers.ProbeOptions(pid=pid))


def R(name: str) -> int:
    return PT_REGS_X86_64[name]


# ------------------------------------------------------------ parsing

@pytest.mark.parametrize("parts, want", [
    (["/bin/x", "prov", "name"], ("/bin/x", "prov", "name")),
    (["/bin/x", "name"], ("/bin/x", None, "name")),
    (["libfoo", "p*", "*"], ("libfoo", "p*", "*")),
    (["*", "loop"], ("*", None, "loop")),
    (["./x", "", "*probe2"], ("./x", None, "*probe2")),  # usdt:FILE::NAME: any provider
])
def test_parse_spec(parts, want):
    s = parse_spec(parts)
    assert (s.target, s.ns, s.name) == want


@pytest.mark.parametrize("parts, msg", [
    (["/bin/x"], "usdt probe type requires 2 or 3 arguments, found 1"),
    (["/bin/x", "a", "b", "c"], "usdt probe type requires 2 or 3 arguments, found 4"),
    (["/bin/x", "a", ""], "should have a probe name"),
])
def test_parse_spec_errors(parts, msg):
    with pytest.raises(SemanticError, match=msg):
        parse_spec(parts)


def test_no_target_is_every_file_of_the_pid_or_an_error(monkeypatch):
    from bpfscope.attach import usdt
    monkeypatch.setattr(usdt, "pid_files", lambda pid: [f"/proc/{pid}/root/bin/x", "/lib/y.so"])
    assert parse_spec(["", "a"]).target == ""
    assert usdt.resolve_targets("", 42) == ["/proc/42/root/bin/x", "/lib/y.so"]
    with pytest.raises(SemanticError, match="usdt probe type should have a target"):
        usdt.resolve_targets("", None)


def test_usdt_is_no_longer_later():
    assert isinstance(providers.PROVIDERS["usdt"].real(), usdt.Usdt)


# ------------------------------------------------------------ expansion

def test_probe_with_register_memory_and_pointer_args(prog):
    [p] = expand(f"usdt:{prog}:bstest:tick")
    assert p.provider == "usdt" and p.name == f"usdt:{prog}:bstest:tick"
    assert p.context == "usdt" and p.func == "" and not p.is_return
    assert isinstance(p.target, UsdtTarget)
    assert p.target.path == prog and p.target.semaphore == 0 and p.target.pid is None
    # the site is a nop in the file
    with open(prog, "rb") as f:
        f.seek(p.target.offset)
        assert f.read(1) == b"\x90"
    a0, a1, a2 = p.usdt_args
    # -4@%edi -8@%rsi 8@%rdx (GCC 12 at -O2)
    assert (a0.kind, a0.size, a0.signed, a0.reg) == ("reg", 4, True, R("rdi"))
    assert (a1.kind, a1.size, a1.signed, a1.reg) == ("reg", 8, True, R("rsi"))
    assert (a2.kind, a2.size, a2.signed) == ("reg", 8, False)


@pytest.mark.parametrize("which", ["pie", "nopie"])
def test_memory_operand_with_index(prog, prog_nopie, which):
    """squares[i & 7]: -8@(%rax,%rdx,8) with GCC 12 -O2; whatever the
    registers, the spec's base, index and scale come through."""
    path = prog if which == "pie" else prog_nopie
    [p] = expand(f"usdt:{path}:bstest:indexed")
    [a] = p.usdt_args
    [site] = [q for q in usdt.probes_of(path) if q.name == "indexed"]
    [spec] = site.args
    assert spec.kind == "mem" and spec.index is not None
    assert (a.kind, a.size, a.signed, a.scale) == ("mem", 8, True, 8)
    assert a.index == spec.index.pt_regs_offset
    assert a.base == (spec.base.pt_regs_offset if spec.base else None)


def test_constant_arg(prog):
    [p] = expand(f"usdt:{prog}:bstest:constant")
    c = p.usdt_args[0]
    assert (c.kind, c.size, c.signed, c.value) == ("const", 4, True, 42)


def test_rip_relative_symbol_is_made_position_independent(prog):
    """-8@gcounter(%rip): ip at the uprobe is the site, so the address is
    ip + (gcounter - site)."""
    [p] = expand(f"usdt:{prog}:global")
    [a] = p.usdt_args
    elf = ElfFile(prog)
    try:
        assert elf.is_pie
        site = next(q for q in usdt.probes_of(prog) if q.name == "global")
        gaddr = uprobe.symbols_of(prog).lookup_one("gcounter", functions_only=False).value
        assert (a.kind, a.size, a.signed, a.base, a.index) == ("mem", 8, True, R("rip"), None)
        assert a.disp == gaddr - site.pc
    finally:
        elf.close()


def test_rip_relative_in_a_non_pie_program(prog_nopie):
    [p] = expand(f"usdt:{prog_nopie}:global")
    [a] = p.usdt_args
    site = next(q for q in usdt.probes_of(prog_nopie) if q.name == "global")
    gaddr = uprobe.symbols_of(prog_nopie).lookup_one("gcounter", functions_only=False).value
    assert a.base == R("rip") and a.disp == gaddr - site.pc


def test_absolute_address_in_pie_goes_through_ip(prog, prog_nopie):
    site = next(q for q in usdt.probes_of(prog) if q.name == "global")
    with ElfFile(prog) as elf:
        a = convert_arg(prog, elf, site, parse_arg_spec("8@0x4000"))
        assert (a.base, a.index, a.disp) == (R("rip"), None, 0x4000 - site.pc)
        # sym(%rbx): ip takes the index slot
        a = convert_arg(prog, elf, site, parse_arg_spec("4@gcounter+8(%rbx)"))
        gaddr = uprobe.symbols_of(prog).lookup_one("gcounter", functions_only=False).value
        assert (a.base, a.index, a.scale) == (R("rbx"), R("rip"), 1)
        assert a.disp == gaddr + 8 - site.pc
        with pytest.raises(SemanticError, match="absolute address in a position-independent"):
            convert_arg(prog, elf, site, parse_arg_spec("4@gcounter(%rbx,%rcx,2)"))
        with pytest.raises(SemanticError, match="does not define"):
            convert_arg(prog, elf, site, parse_arg_spec("4@nosuchsym(%rip)"))
        a = convert_arg(prog, elf, site, parse_arg_spec("-2@-16(%rbp)"))
        assert (a.base, a.index, a.disp, a.size, a.signed) == (R("rbp"), None, -16, 2, True)
        a = convert_arg(prog, elf, site, parse_arg_spec("1@%ah"))
        assert (a.kind, a.reg, a.byte_off) == ("reg", R("rax"), 1)
    site_np = next(q for q in usdt.probes_of(prog_nopie) if q.name == "global")
    with ElfFile(prog_nopie) as elf:
        a = convert_arg(prog_nopie, elf, site_np, parse_arg_spec("8@0x4000"))
        assert (a.base, a.index, a.disp) == (None, None, 0x4000)


def test_one_probe_per_site(prog):
    ps = expand(f"usdt:{prog}:bstest:multi")
    assert len(ps) == 2
    assert {p.name for p in ps} == {f"usdt:{prog}:bstest:multi"}
    assert len({p.target.offset for p in ps}) == 2
    assert sorted(p.usdt_args[0].size for p in ps) == [4, 8]


def test_semaphore_offset(prog):
    [p] = expand(f"usdt:{prog}:bstest:guarded")
    site = next(q for q in usdt.probes_of(prog) if q.name == "guarded")
    assert site.semaphore and p.target.semaphore == site.semaphore_offset
    with ElfFile(prog) as elf:
        assert elf.vaddr_to_offset(site.semaphore) == p.target.semaphore
    sem = uprobe.symbols_of(prog).lookup_one("bstest_guarded_semaphore", functions_only=False)
    assert sem.value == site.semaphore


def test_provider_may_be_left_out(prog):
    [p] = expand(f"usdt:{prog}:constant")
    assert p.name == f"usdt:{prog}:bstest:constant"


def test_ambiguous_name_needs_the_provider(prog):
    with pytest.raises(SemanticError) as ei:
        expand(f"usdt:{prog}:tick")
    assert ei.value.message == f"namespace for usdt:{prog}:tick not specified, matched 2 probes"
    assert "please specify a unique namespace or use '*'" in ei.value.detail
    names = sorted(p.name for p in expand(f"usdt:{prog}:*:tick"))
    assert names == [f"usdt:{prog}:bstest:tick", f"usdt:{prog}:other:tick"]


def test_wildcards(prog):
    names = sorted({p.name for p in expand(f"usdt:{prog}:bstest:g*")})
    assert names == [f"usdt:{prog}:bstest:global", f"usdt:{prog}:bstest:guarded"]
    assert len(expand(f"usdt:{prog}:*:*")) == 8  # every site
    assert len(expand(f"usdt:{prog}:*")) == 8
    assert {p.name for p in expand(f"U:{prog}:oth*:tick")} == {f"usdt:{prog}:other:tick"}


def test_empty_provider_matches_every_provider(prog):
    names = {p.name for p in expand(f"usdt:{prog}::tic*")}
    assert names == {f"usdt:{prog}:bstest:tick", f"usdt:{prog}:other:tick"}


def test_relative_glob_is_listed_and_named_as_written(prog, monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(prog)))
    rel = os.path.basename(os.path.dirname(prog))
    assert list_probes(f"usdt:./{rel}/sdtp*:other:*") == [f"usdt:./{rel}/sdtprog:other:tick"]
    assert list_probes(f"usdt:{rel}/sdtp*:other:*") == [f"usdt:{rel}/sdtprog:other:tick"]
    names = {p.name for p in expand(f"usdt:./{rel}/sdtp*:bstest:constant")}
    assert names == {f"usdt:./{rel}/sdtprog:bstest:constant"}


def test_wildcard_type_lists_the_file_s_user_probes(prog, monkeypatch):
    monkeypatch.chdir(os.path.dirname(prog))
    lines = providers.listing("*:./sdtprog:*")
    assert "usdt:./sdtprog:other:tick" in lines
    assert "uprobe:./sdtprog:work" in lines
    assert not any(l.startswith(("uprobe:/", "usdt:/")) for l in lines)
    assert "usdt:./sdtprog:other:tick" not in providers.listing("k*:./sdtprog:*")


def test_target_glob(prog):
    d = os.path.dirname(prog)
    names = {p.name for p in expand(f"usdt:{d}/sdtp*:bstest:constant")}
    assert names == {f"usdt:{prog}:bstest:constant"}


def test_relative_target(prog, monkeypatch):
    monkeypatch.chdir(os.path.dirname(prog))
    [p] = expand("usdt:./sdtprog:bstest:constant")
    assert p.target.path == prog


@pytest.mark.parametrize("spec, msg", [
    ("bstest:nosuch", "Failed to find usdt probe: usdt:{prog}:bstest:nosuch"),
    ("nosuch", "Failed to find usdt probe: usdt:{prog}:nosuch"),
    ("nosuch:tick", "Failed to find usdt probe: usdt:{prog}:nosuch:tick"),
    ("bstest:no*", "No matches for usdt {prog}:bstest:no*."),
])
def test_missing_probe(prog, spec, msg):
    with pytest.raises(SemanticError) as ei:
        expand(f"usdt:{prog}:{spec}")
    assert ei.value.message == msg.format(prog=prog)


def test_missing_target():
    with pytest.raises(SemanticError, match="usdt target file '/no/such/file' does not exist"):
        expand("usdt:/no/such/file:a:b")


def test_star_target_needs_a_pid():
    with pytest.raises(SemanticError, match="needs -p PID"):
        expand("usdt:*:loop")


def test_pid_limits_the_probe(prog):
    [q] = expand(f"usdt:{prog}:bstest:constant", pid=os.getpid())
    assert q.target.pid == os.getpid()


def test_pid_files_are_the_mapped_executables():
    mine = [os.path.realpath(f) for f in usdt.pid_files(os.getpid())]
    assert os.path.realpath(f"/proc/{os.getpid()}/exe") in mine
    assert len(mine) == len(set(mine))


def test_library_by_name(monkeypatch, prog):
    monkeypatch.setattr(uprobe, "resolve_library", lambda name, pid=None: prog)
    [p] = expand("usdt:libsdtprog:bstest:constant")
    assert p.target.path == prog


def test_bad_argument_spoils_only_its_probe(prog, tmp_path, monkeypatch):
    """A floating-point register (which elf.usdt cannot decode) makes its
    probe an error without hiding the file's other probes."""
    gcc = shutil.which("gcc")
    src = tmp_path / "f.c"
    src.write_text(r"""
#include <sys/sdt.h>
int main(int argc, char **argv) {
  STAP_PROBE1(fp, good, argc);
  /* the note sdt.h would write for an argument in %xmm0 */
  __asm__ __volatile__ (
    "990: nop\n"
    ".pushsection .note.stapsdt,\"?\",\"note\"\n"
    ".balign 4\n"
    ".4byte 992f-991f, 994f-993f, 3\n"
    "991: .asciz \"stapsdt\"\n"
    "992: .balign 4\n"
    "993: .8byte 990b, _.stapsdt.base, 0\n"
    ".asciz \"fp\"\n"
    ".asciz \"bad\"\n"
    ".asciz \"8f@%xmm0\"\n"
    "994: .balign 4\n"
    ".popsection\n");
  return 0;
}
""")
    out = tmp_path / "f"
    r = subprocess.run([gcc, "-O2", "-o", str(out), str(src)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("the hand-written note did not assemble: " + r.stderr.decode()[-200:])
    [p] = expand(f"usdt:{out}:fp:good")
    assert p.usdt_args[0].kind == "reg"
    with pytest.raises(SemanticError, match="xmm0"):
        expand(f"usdt:{out}:fp:bad")


# ------------------------------------------------------------ listing

def test_listing(prog):
    everything = [f"usdt:{prog}:bstest:{n}"
                  for n in ("constant", "global", "guarded", "indexed", "multi", "tick")] + \
                 [f"usdt:{prog}:other:tick"]
    assert list_probes(f"usdt:{prog}") == everything
    assert list_probes(f"usdt:{prog}:*") == everything
    assert list_probes(f"usdt:{prog}:*:*") == everything
    assert list_probes(f"usdt:{prog}:tick") == [f"usdt:{prog}:bstest:tick",
                                                f"usdt:{prog}:other:tick"]
    assert list_probes(f"usdt:{prog}:bstest:g*") == [f"usdt:{prog}:bstest:global",
                                                     f"usdt:{prog}:bstest:guarded"]
    assert list_probes(f"U:{prog}:nothing") == []
    assert list_probes("usdt:/no/such/file") == []


def test_listing_star_needs_pid():
    with pytest.raises(SemanticError, match="needs -p PID"):
        list_probes("usdt:*")


# ------------------------------------------------------------ attach

class _Captured(Exception):
    pass


def _capture_open(monkeypatch, shift_fmt: str | None = "config:32-63"):
    seen = {}

    def fake_open(type, config, pid=-1, cpu=0, config1=0, config2=0, **kw):
        seen.update(type=type, config=config, pid=pid, cpu=cpu, config2=config2)
        raise _Captured()

    monkeypatch.setattr(uprobe.perf, "perf_event_open", fake_open)
    monkeypatch.setattr(uprobe, "pmu_type", lambda: 9)
    real_read = uprobe._read

    def fake_read(path):
        if path.endswith("/format/ref_ctr_offset"):
            if shift_fmt is None:
                raise OSError("missing")
            return shift_fmt
        return real_read(path)
    monkeypatch.setattr(uprobe, "_read", fake_read)
    return seen


def test_attach_puts_the_semaphore_in_config(prog, monkeypatch):
    seen = _capture_open(monkeypatch)
    [p] = expand(f"usdt:{prog}:bstest:guarded")
    with pytest.raises(_Captured):
        usdt.Usdt().attach(p, 3)
    assert seen["type"] == 9 and seen["config2"] == p.target.offset
    assert seen["config"] == p.target.semaphore << 32
    assert (seen["pid"], seen["cpu"]) == (-1, 0)


def test_attach_without_semaphore_and_with_pid(prog, monkeypatch):
    seen = _capture_open(monkeypatch)
    [p] = expand(f"usdt:{prog}:bstest:constant", pid=1234)
    with pytest.raises(_Captured):
        usdt.Usdt().attach(p, 3)
    assert seen["config"] == 0 and seen["config2"] == p.target.offset
    assert (seen["pid"], seen["cpu"]) == (1234, -1)


def test_kernel_without_reference_counters(prog, monkeypatch):
    _capture_open(monkeypatch, shift_fmt=None)
    [p] = expand(f"usdt:{prog}:bstest:guarded")
    with pytest.raises(KernelError, match="semaphores need Linux 4.20"):
        usdt.Usdt().attach(p, 3)


def test_probes_of_is_cached(prog):
    assert usdt.probes_of(prog) is usdt.probes_of(prog)
    assert all(isinstance(p, UsdtProbe) for p in usdt.probes_of(prog))


def test_glob_targets_through_the_process_root(tmp_path):
    for name in ("prog1", "prog2", "notes.txt"):
        (tmp_path / name).write_bytes(b"\x7fELF" if name.startswith("prog") else b"text")
        (tmp_path / name).chmod(0o755 if name.startswith("prog") else 0o644)
    want = [str(tmp_path / "prog1"), str(tmp_path / "prog2")]
    assert uprobe.glob_targets(str(tmp_path / "*"), None) == want
    # our own /proc/PID/root is the host's root: the same files, by their paths
    assert uprobe.glob_targets(str(tmp_path / "prog*"), os.getpid()) == want
