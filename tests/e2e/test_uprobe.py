"""uprobe/uretprobe end to end: the real CLI traces a program it starts
with -c (released only once the probes are attached), so every call is
seen and counts are exact."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

C_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) int known_func(int x) { asm volatile(""); return x * 2 + 1; }
__attribute__((noinline)) int known_other(int x) { asm volatile(""); return x + 7; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  long s = 0;
  for (int i = 0; i < n; i++) s += known_func(100 + i);
  s += known_other(3);
  pid_t (*volatile gp)(void) = getpid;
  for (int i = 0; i < n; i++) s += gp() > 0;
  printf("%ld\n", s);
  return 0;
}
"""

CXX_SRC = r"""
#include <cstdio>
#include <cstdlib>
namespace ns {
struct Klass {
  int v;
  __attribute__((noinline)) int method(int x) { asm volatile(""); return v + x; }
  __attribute__((noinline)) int method(int x, int y) { asm volatile(""); return v + x + y; }
};
}
__attribute__((noinline)) int dispatch_command(const char *s, int n) { asm volatile(""); return n + (s ? 1 : 0); }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  ns::Klass k{5};
  long s = 0;
  for (int i = 0; i < n; i++) s += k.method(i) + k.method(i, 1) + dispatch_command("x", i);
  printf("%ld\n", s);
}
"""


def _compile(tmp_path_factory, compiler: str, src: str, name: str) -> str:
    cc = shutil.which(compiler)
    if cc is None:
        pytest.skip(f"no {compiler} to build the uprobe test program")
    d = tmp_path_factory.mktemp("uprobe_e2e")
    srcfile = d / (name + (".cpp" if compiler == "g++" else ".c"))
    srcfile.write_text(src)
    out = d / name
    subprocess.run([cc, "-O0", "-o", str(out), str(srcfile)], check=True, capture_output=True)
    return str(out)


@pytest.fixture(scope="module")
def cprog(tmp_path_factory, kernel) -> str:
    return _compile(tmp_path_factory, "gcc", C_SRC, "upc")


@pytest.fixture(scope="module")
def cxxprog(tmp_path_factory, kernel) -> str:
    return _compile(tmp_path_factory, "g++", CXX_SRC, "upcxx")


def maps_of(stdout: str) -> dict[str, str]:
    """'@x[k]: v' lines -> {'@x[k]': 'v'}."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^(@\S*(?:\[.*\])?): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def trace(e2e, prog: str, cmd: str) -> dict[str, str]:
    r = e2e.run_prog(prog, "-c", cmd)
    return maps_of(r.stdout)


def test_count_is_exact(e2e, cprog, no_leaks):
    assert trace(e2e, f"uprobe:{cprog}:known_func {{ @ = count(); }}", f"{cprog} 7") == {"@": "7"}


def test_arg0(e2e, cprog):
    got = trace(e2e, f"uprobe:{cprog}:known_func {{ @[arg0] = count(); }}", f"{cprog} 4")
    assert got == {f"@[{v}]": "1" for v in (100, 101, 102, 103)}


def test_uretprobe_retval(e2e, cprog, no_leaks):
    got = trace(e2e, f"uretprobe:{cprog}:known_func {{ @[retval] = count(); }}", f"{cprog} 3")
    assert got == {f"@[{2 * v + 1}]": "1" for v in (100, 101, 102)}


def test_offset_probe_sees_arguments(e2e, cprog):
    # +4 is past the first instruction of any -O0 prologue (push %rbp or
    # endbr64), and %rdi is not touched before it
    got = trace(e2e, f"uprobe:{cprog}:known_func+4 {{ @[probe, func, arg0] = count(); }}",
                f"{cprog} 2")
    assert got == {f"@[uprobe:{cprog}:known_func+4, known_func, {v}]": "1" for v in (100, 101)}


def test_wildcard(e2e, cprog):
    got = trace(e2e, f"uprobe:{cprog}:known_* {{ @[probe, func] = count(); }}", f"{cprog} 5")
    assert got == {f"@[uprobe:{cprog}:known_func, known_func]": "5",
                   f"@[uprobe:{cprog}:known_other, known_other]": "1"}


def test_library_probe(e2e, cprog):
    # -c limits the probe to the child: only its own getpid calls count
    got = trace(e2e, "uprobe:libc:getpid { @ = count(); }", f"{cprog} 6")
    assert got == {"@": "6"}


def test_cpp_by_demangled_name(e2e, cxxprog):
    got = trace(e2e, f"uprobe:{cxxprog}:dispatch_command {{ @d = count(); }} "
                     f'uprobe:{cxxprog}:cpp:"ns::Klass::method" {{ @m[func] = count(); }}',
                f"{cxxprog} 3")
    assert got == {"@d": "3", "@m[ns::Klass::method(int)]": "3",
                   "@m[ns::Klass::method(int, int)]": "3"}


def test_system_wide_without_pid(e2e, cprog):
    """No -c or -p: every process running the program is traced."""
    t = e2e.Trace("-e", f"uprobe:{cprog}:known_func {{ @ = count(); }} "
                  "interval:ms:1500 { exit(); }")
    for _ in range(2):
        subprocess.run([cprog, "3"], check=True, capture_output=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert maps_of(out) == {"@": "6"}


def test_listing(e2e, cprog, cxxprog):
    r = e2e.run_cli("-l", f"uprobe:{cprog}:known*")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"uprobe:{cprog}:known_func", f"uprobe:{cprog}:known_other"]
    r = e2e.run_cli("-l", f"uprobe:{cxxprog}:cpp:ns::*")
    assert r.stdout.splitlines() == [f'uprobe:{cxxprog}:cpp:"ns::Klass::method(int)"',
                                     f'uprobe:{cxxprog}:cpp:"ns::Klass::method(int, int)"']


def test_error_no_such_function(e2e, cprog):
    r = e2e.run_cli("-e", f"uprobe:{cprog}:nosuch {{ }}")
    assert r.returncode == 1
    assert f"ERROR: Could not resolve symbol: {cprog}:nosuch" in r.stderr
    assert "Traceback" not in r.stderr


def test_relative_path_with_a_slash(e2e, cprog):
    # `uprobe:dir/prog:f`, as bpftrace's tests write testprogs/...: the
    # path is relative to the working directory
    d = os.path.dirname(cprog)
    rel = os.path.join(os.path.basename(d), os.path.basename(cprog))
    r = e2e.run_cli("-q", "-e", f"uprobe:{rel}:known_func {{ @[probe] = count(); }}",
                    "-c", f"{cprog} 3", cwd=os.path.dirname(d))
    assert r.returncode == 0, r.stderr
    assert maps_of(r.stdout) == {f"@[uprobe:{rel}:known_func]": "3"}  # as written


def test_func_is_a_usym_printed_as_the_function_name(e2e, cprog):
    """func is typed usym (0.26) and prints as the probed function's name
    in printf, map keys, print() and JSON, for uprobes and uretprobes;
    one 8-byte type serves every probe of the script."""
    prog = (f"uprobe:{cprog}:known_*, uretprobe:{cprog}:known_other "
            '{ printf("<%s|%-12s>\\n", func, func); @[func, probe] = count(); '
            '@last = func; @n[func] = count(); }')
    r = e2e.run_prog(prog, "-c", f"{cprog} 2")
    lines = r.stdout.splitlines()
    assert lines.count("<known_func|known_func  >") == 2, r.stdout
    assert lines.count("<known_other|known_other >") == 2, r.stdout
    assert maps_of(r.stdout) == {
        f"@[known_func, uprobe:{cprog}:known_func]": "2",
        f"@[known_other, uprobe:{cprog}:known_other]": "1",
        f"@[known_other, uretprobe:{cprog}:known_other]": "1",
        "@last": "known_other", "@n[known_func]": "2", "@n[known_other]": "2"}
    r = e2e.run_prog(f'uprobe:{cprog}:known_other {{ @[func] = count(); print(func); }}',
                     "-f", "json", "-c", f"{cprog} 1")
    assert '{"type": "value", "data": "known_other"}' in r.stdout, r.stdout
    assert '"data": {"@": {"known_other": 1}}' in r.stdout, r.stdout


def test_func_is_not_a_string(e2e, cprog):
    r = e2e.run_cli("-e", f'uprobe:{cprog}:known_func {{ $f = func; $f = "x"; }}')
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "'usym'" in r.stderr and "string" in r.stderr, r.stderr


STACK_ARGS_SRC = r"""
#include <stdio.h>
__attribute__((noinline)) long eight(long a, long b, long c, long d, long e, long f,
                                     long g, long h) { asm volatile(""); return a + h; }
int main(void) { printf("%ld\n", eight(1, 2, 3, 4, 5, 6, 70, 80)); return 0; }
"""


def test_sargs_are_the_arguments_passed_on_the_stack(e2e, tmp_path_factory):
    """x86-64 passes six arguments in registers and the rest on the stack,
    above the return address: sarg0 and sarg1 are the 7th and 8th."""
    prog = _compile(tmp_path_factory, "gcc", STACK_ARGS_SRC, "stackargs")
    r = e2e.run_prog(f'uprobe:{prog}:eight {{ printf("%d %d %d %d\\n", arg0, arg5, '
                     'sarg0, sarg1); }', "-c", prog)
    assert "1 6 70 80" in r.stdout.splitlines(), r.stdout
