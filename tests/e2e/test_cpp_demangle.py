"""cpp_demangle: C++ names print demangled by default and mangled when the
config block or BPFTRACE_CPP_DEMANGLE turns it off, in func, usym(),
ustack and -l listings. The traced program exits at once, so its stacks
resolve only through the kernel's records of its mappings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

SRC = r"""
namespace ns {
__attribute__((noinline)) int work(int x) { asm volatile(""); return x + 1; }
}
extern "C" __attribute__((noinline)) int run(int (*f)(int), int x) { asm volatile(""); return f(x) + 1; }
int main() { return run(ns::work, 1) == 3 ? 0 : 1; }
"""

MANGLED = "_ZN2ns4workEi"
# At the first instruction of ns::work the frame pointer is still run's:
# a plain frame-pointer walk goes from work to run's caller, main; newer
# kernels (6.13+) take the return address at the stack pointer: run.
CALLER = ("run+", "main+")


@pytest.fixture(scope="module")
def prog(tmp_path_factory, kernel) -> str:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ to build the C++ test program")
    d = tmp_path_factory.mktemp("cppdemangle")
    (d / "p.cpp").write_text(SRC)
    subprocess.run([gxx, "-O0", "-fno-omit-frame-pointer", "-o", str(d / "p"),
                    str(d / "p.cpp")], check=True, capture_output=True)
    return str(d / "p")


def run(e2e, *args, env=None):
    r = subprocess.run([*e2e.CLI, *args], capture_output=True, text=True, timeout=30,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout


SCRIPT = ('uprobe:{p}:run {{ printf("%s\\n", usym(arg0)); }} '
          'uprobe:{p}:cpp:ns::work {{ printf("%s\\n", func); @[ustack(2)] = count(); }}')


def lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_demangled_by_default(e2e, prog, no_leaks):
    out = run(e2e, "-q", "-e", SCRIPT.format(p=prog), "-c", prog)
    got = lines(out)
    assert got[:3] == ["ns::work(int)", "ns::work(int)", "@["]
    assert got[3] == "ns::work(int)+0"
    assert got[4].startswith(CALLER) and got[5] == "]: 1", out


@pytest.mark.parametrize("how", ["config", "env"])
def test_mangled_when_off(e2e, prog, how):
    script = SCRIPT.format(p=prog)
    env = None
    if how == "config":
        script = "config = { cpp_demangle = false } " + script
    else:
        env = {"BPFTRACE_CPP_DEMANGLE": "0"}
    got = lines(run(e2e, "-q", "-e", script, "-c", prog, env=env))
    assert got[:4] == [MANGLED, MANGLED, "@[", f"{MANGLED}+0"]
    assert got[4].startswith(CALLER)


def test_listing(e2e, prog):
    assert run(e2e, "-l", f"uprobe:{prog}:cpp:ns::*").splitlines() == [
        f'uprobe:{prog}:cpp:"ns::work(int)"']
    assert run(e2e, "-l", f"uprobe:{prog}:cpp:ns::*",
               env={"BPFTRACE_CPP_DEMANGLE": "0"}).splitlines() == [
        f"uprobe:{prog}:{MANGLED}"]


def test_stacks_of_a_process_that_exits_at_once_without_c(e2e, prog):
    """Traced system-wide, the program is started by the test and has
    exited long before the trace prints its map at the end."""
    t = e2e.Trace("-e", f"uprobe:{prog}:cpp:ns::work {{ @[ustack(perf, 2)] = count(); }} "
                  f"uretprobe:{prog}:main {{ exit(); }}")
    subprocess.run([prog], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    got = lines(out)
    assert got[1].endswith(f"ns::work(int)+0 ({prog})"), out
    assert got[2].split()[1].startswith(CALLER) and got[2].endswith(f"({prog})"), out
