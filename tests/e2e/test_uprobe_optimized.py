"""Probing what an optimizing compiler made of a program, as a user would
write the names: C++ methods at -O2 by their demangled names (GCC keeps
some only as '[clone .isra.0]' copies), a namespaced static function that
was inlined (found through DWARF by its qualified name), and a C function
that exists only as a 'f.constprop.0.isra.0' clone."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from bpfscope.elf import SymbolTable, demangle

CXX = r"""
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
namespace shop {
struct Item { std::string name; int price; };
class Cart {
 public:
  __attribute__((noinline)) void add(const Item &it) { items.push_back(it); total += it.price; }
  __attribute__((noinline)) int checkout(int discount) const { return total - discount; }
  int size() const { return (int)items.size(); }
 private:
  std::vector<Item> items; int total = 0;
};
static int helper(int x) { return x * 3 + 1; }
}
__attribute__((noinline)) int compute(int n) { int s = 0; for (int i = 0; i < n; i++) s += shop::helper(i); return s; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  shop::Cart c;
  for (int i = 0; i < n; i++) c.add({"thing" + std::to_string(i), 10 * i});
  printf("%d %d %d\n", c.checkout(1), c.size(), compute(n));
  return 0;
}
"""

C = r"""
#include <stdio.h>
#include <stdlib.h>
struct S { int a, b, pad[32]; };
static __attribute__((noinline)) int use(struct S *s, int k) { return s->a * k + s->b; }
int main(int argc, char **argv) {
  struct S s = { argc > 1 ? atoi(argv[1]) : 2, 2 };
  printf("%d\n", use(&s, 5));
  return 0;
}
"""


def _build(tmp_path_factory, compiler: str, src: str, name: str) -> str:
    cc = shutil.which(compiler)
    if cc is None:
        pytest.skip(f"no {compiler} to build the test program")
    d = tmp_path_factory.mktemp("optimized")
    f = d / (name + (".cpp" if compiler == "g++" else ".c"))
    f.write_text(src)
    subprocess.run([cc, "-O2", "-g", "-o", str(d / name), str(f)], check=True,
                   capture_output=True)
    return str(d / name)


@pytest.fixture(scope="module")
def cxx(tmp_path_factory, kernel) -> str:
    return _build(tmp_path_factory, "g++", CXX, "shop")


@pytest.fixture(scope="module")
def cprog(tmp_path_factory, kernel) -> str:
    path = _build(tmp_path_factory, "gcc", C, "clone")
    if SymbolTable(path).lookup_one("use") is not None:
        pytest.skip("this gcc kept use() whole: no clone to test")
    return path


def checkout_symbols(path: str) -> list[str]:
    return sorted(n for n in SymbolTable(path).function_names()
                  if "checkout" in demangle(n))


def test_methods_by_demangled_name_at_O2(e2e, cxx, no_leaks):
    r = e2e.run_cli("-q", "-e", f"uprobe:{cxx}:cpp:shop::Cart::add {{ @add = count(); }} "
                    f'uretprobe:{cxx}:cpp:"shop::Cart::checkout" {{ @checkout = retval; }}',
                    "-c", f"{cxx} 4")
    assert r.returncode == 0, r.stderr
    assert "59 4 22\n" in r.stdout  # 0+10+20+30 - 1
    assert "@add: 4" in r.stdout.splitlines()
    assert "@checkout: 59" in r.stdout.splitlines()
    clones = [n for n in checkout_symbols(cxx) if "[clone " in demangle(n)]
    if clones == checkout_symbols(cxx):  # GCC left only the clone: say so
        assert (f"WARNING: shop::Cart::checkout exists in {cxx} only as a compiler clone "
                f"({demangle(clones[0])})") in r.stderr


def test_inlined_namespaced_static_by_qualified_name(e2e, cxx):
    r = e2e.run_cli("-e", f'uprobe:{cxx}:"shop::helper" {{ @ = count(); }}')
    assert r.returncode == 1
    assert re.search(r"ERROR: shop::helper has no out-of-line copy in .*: it is inlined into "
                     r"1 caller \(compute\(int\) at 0x[0-9a-f]+\)", r.stderr), r.stderr
    r = e2e.run_cli("-q", "--uprobe-inlined", "-e",
                    f'uprobe:{cxx}:"shop::helper" {{ @calls = count(); }}', "-c", f"{cxx} 5")
    assert r.returncode == 0, r.stderr
    assert "@calls: 5" in r.stdout.splitlines()


def test_c_function_left_only_as_a_clone(e2e, cprog):
    (clone,) = [n for n in SymbolTable(cprog).function_names() if n.startswith("use.")]
    r = e2e.run_cli("-q", "-e", f"uprobe:{cprog}:use {{ @[probe] = count(); }}",
                    "-c", f"{cprog} 3")
    assert r.returncode == 0, r.stderr
    assert f"@[uprobe:{cprog}:{clone}]: 1" in r.stdout.splitlines()
    assert (f"WARNING: use exists in {cprog} only as a compiler clone ({clone}): the "
            f"compiler removed or replaced some of its parameters") in r.stderr


def test_unquoted_cpp_name_error_says_how(e2e, cxx):
    r = e2e.run_cli("-e", f"uprobe:{cxx}:shop::helper {{ }}")
    assert r.returncode == 1
    assert ("ERROR: uprobe probe type requires 2 or 3 arguments, found 4; a C++ name with "
            "'::' must be quoted (\"ns::f\") or follow cpp: (cpp:ns::f)") in r.stderr
