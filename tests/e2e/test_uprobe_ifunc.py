"""uprobes on GNU indirect functions (IFUNC): uprobe:libc:strlen must probe
the strlen implementation this machine uses, not the resolver ld.so runs
once per process; where that cannot be told, a warning names the
implementations."""

from __future__ import annotations


import pytest

from bpfscope.attach.providers import ProbeOptions, expand
from bpfscope.elf import SymbolTable, resolve_library
from bpfscope.errors import Source
from bpfscope.lang.parser import parse

CALLER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  size_t (*volatile f)(const char *) = strlen;  /* a real call, through the PLT */
  char buf[64];
  snprintf(buf, sizeof buf, "bpfscope-ifunc-%s", "marker");
  size_t s = 0;
  for (int i = 0; i < n; i++) s += f(buf);
  printf("%zu\n", s);
  return 0;
}
"""

OWN_IFUNC = r"""
__attribute__((noinline)) int __myfn_generic(int x) { asm volatile(""); return x + 1; }
__attribute__((noinline)) int __myfn_fast(int x) { asm volatile(""); return x + 1; }
static void *resolve_myfn(void) { return (void *)__myfn_fast; }
int myfn(int) __attribute__((ifunc("resolve_myfn")));
int main(void) { return myfn(1) == 2 ? 0 : 1; }
"""


@pytest.fixture(scope="module")
def caller(tmp_path_factory, kernel, e2e) -> str:
    return e2e.build_c(tmp_path_factory, CALLER, "strlen_caller")


@pytest.fixture(scope="module")
def own(tmp_path_factory, kernel, e2e) -> str:
    return e2e.build_c(tmp_path_factory, OWN_IFUNC, "own_ifunc")


@pytest.fixture(scope="module")
def libc() -> str:
    path = resolve_library("libc", None)
    sym = SymbolTable(path).lookup_one("strlen") if path else None
    if sym is None or sym.type != "IFUNC":
        pytest.skip("this libc's strlen is not an IFUNC")
    return path


def probes(text: str):
    prog = parse(Source(text))
    return expand(prog.probes[0].attach_points[0], ProbeOptions())


def test_probe_is_on_the_implementation(libc):
    (p,) = probes("uprobe:libc:strlen {}")
    sym = SymbolTable(libc).lookup_one("strlen")
    assert p.name == f"uprobe:{libc}:strlen" and p.func == "strlen"
    assert p.target.vaddr != sym.value  # not the resolver
    impl = SymbolTable(libc).lookup_addr(p.target.vaddr)
    # a stripped libc has no names for the implementations; else a strlen one
    assert impl is None or "strlen" in impl.name


def test_every_call_is_seen(e2e, caller, libc, no_leaks):
    r = e2e.run_prog('uprobe:libc:strlen /str(arg0) == "bpfscope-ifunc-marker"/ '
                     '{ @calls = count(); } '
                     'uretprobe:libc:strlen /retval == 21 && pid == cpid/ { @ret = count(); }',
                     "-c", f"{caller} 7")
    assert "@calls: 7" in r.stdout.splitlines(), r.stdout
    assert "@ret: 7" in r.stdout.splitlines(), r.stdout
    assert "IFUNC" not in r.stderr


def test_unresolved_ifunc_warns_with_candidates(e2e, own):
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{own}:myfn {{ }}")
    assert r.returncode == 0, r.stderr
    assert (f"WARNING: myfn in {own} is an indirect function (IFUNC): its symbol is the "
            f"resolver, which runs once when a process binds myfn, not on each call, and "
            f"bpfscope could not tell which implementation this machine uses; probe the "
            f"implementations instead: __myfn_fast, __myfn_generic") in r.stderr
