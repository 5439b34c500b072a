"""usdt end to end: the real CLI traces a C program with SystemTap SDT
probes (compiled here at -O2 against <sys/sdt.h>) that it starts with -c
(released only once the probes are attached), so counts and argument
values are exact. One probe is guarded by a semaphore: the program only
fires it while a tracer has the semaphore raised, which here is the
kernel's uprobe reference counter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

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
  if (argc > 2) { char c; if (read(0, &c, 1) < 0) return 1; }
  long s = 0;
  for (int i = 0; i < n; i++) { s += work(i, -5000000000L * (i + 1)); twice(i); }
  DTRACE_PROBE(other, tick);
  printf("semaphore=%d\n", bstest_guarded_semaphore);
  return 0;
}
"""

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

THROW_CPP = r"""
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1, caught = 0;
  for (int i = 0; i < n; i++) {
    try { throw std::runtime_error("x"); } catch (const std::exception &) { caught++; }
  }
  printf("%d\n", caught);
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
def prog(tmp_path_factory, kernel) -> str:
    return _build(tmp_path_factory.mktemp("usdt_e2e"), "sdtprog", "-pie", "-fPIE")


@pytest.fixture(scope="module")
def prog_nopie(tmp_path_factory, kernel) -> str:
    return _build(tmp_path_factory.mktemp("usdt_e2e"), "sdtprog_np", "-no-pie", "-fno-pie")


def maps_of(stdout: str) -> dict[str, str]:
    """'@x[k]: v' lines -> {'@x[k]': 'v'}."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^(@\S*(?:\[.*\])?): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def trace(e2e, prog_text: str, cmd: str) -> tuple[dict[str, str], str]:
    r = e2e.run_prog(prog_text, "-c", cmd)
    return maps_of(r.stdout), r.stdout


def test_register_args_exact(e2e, prog, no_leaks):
    got, out = trace(e2e, f"usdt:{prog}:bstest:tick {{ @[arg0, arg1] = count(); }}", f"{prog} 4")
    assert got == {f"@[{i}, {-5000000000 * (i + 1)}]": "1" for i in range(4)}
    # nothing raised the semaphore: the program saw it at 0
    assert "semaphore=0" in out


def test_constant_and_negative_args(e2e, prog):
    got, _ = trace(e2e, f"usdt:{prog}:constant {{ @[arg0, arg1] = count(); }}", f"{prog} 3")
    assert got == {"@[42, 0]": "1", "@[42, -1]": "1", "@[42, -2]": "1"}


@pytest.mark.parametrize("which", ["pie", "nopie"])
def test_rip_relative_global(e2e, prog, prog_nopie, which):
    path = prog if which == "pie" else prog_nopie
    got, _ = trace(e2e, f"usdt:{path}:bstest:global {{ @[arg0] = count(); }}", f"{path} 5")
    # gcounter after += 0, 1, 2, 3, 4
    assert got == {f"@[{v}]": "1" for v in (1000, 1001, 1003, 1006, 1010)}


@pytest.mark.parametrize("which", ["pie", "nopie"])
def test_memory_operand_base_index_scale(e2e, prog, prog_nopie, which):
    """squares[i & 7], read from memory at (base,index,8)."""
    path = prog if which == "pie" else prog_nopie
    got, _ = trace(e2e, f"usdt:{path}:bstest:indexed {{ @[arg0] = count(); }}", f"{path} 10")
    assert got == {"@[0]": "2", "@[1]": "2", "@[4]": "1", "@[9]": "1", "@[16]": "1",
                   "@[25]": "1", "@[36]": "1", "@[49]": "1"}


def test_pointer_argument(e2e, prog):
    """arg2 is names[i % 4]: the same pointer for equal i % 4."""
    got, _ = trace(e2e, f"usdt:{prog}:bstest:tick {{ @[arg2] = count(); }}", f"{prog} 6")
    assert sorted(got.values()) == ["1", "1", "2", "2"]
    assert all(int(re.search(r"\[(\d+)\]", k).group(1)) > 0x1000 for k in got)


def test_str_of_a_string_argument(e2e, prog):
    got, _ = trace(e2e, f"usdt:{prog}:bstest:tick {{ @[str(arg2)] = count(); }}", f"{prog} 6")
    assert got == {"@[alpha]": "2", "@[beta]": "2", "@[gamma]": "1", "@[delta]": "1"}


def test_probe_with_two_sites(e2e, prog):
    got, _ = trace(e2e, f"usdt:{prog}:bstest:multi {{ @[probe, arg0] = count(); }}", f"{prog} 4")
    name = f"usdt:{prog}:bstest:multi"
    assert got == {f"@[{name}, {v}]": "1" for v in (0, 1, 2, 3, 1000, 3000)}


def test_semaphore_enables_the_guarded_probe(e2e, prog, no_leaks):
    got, out = trace(e2e, f"usdt:{prog}:bstest:guarded {{ @[arg0] = count(); }}", f"{prog} 4")
    assert got == {"@[0]": "1", "@[3]": "1", "@[6]": "1", "@[9]": "1"}
    assert "semaphore=1" in out
    # untraced, the semaphore is 0 again and the probe is skipped
    r = subprocess.run([prog, "2"], capture_output=True, text=True, check=True)
    assert "semaphore=0" in r.stdout


def test_wildcards_and_probe_builtin(e2e, prog):
    got, _ = trace(e2e, f"usdt:{prog}:*:tick {{ @[probe] = count(); }}", f"{prog} 3")
    assert got == {f"@[usdt:{prog}:bstest:tick]": "3", f"@[usdt:{prog}:other:tick]": "1"}


def test_library_by_name(e2e, tmp_path, kernel):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("needs g++")
    lines = e2e.run_cli("-l", "usdt:libstdc++:libstdcxx:*").stdout.split()
    if not any(line.endswith(":libstdcxx:throw") for line in lines):
        pytest.skip("this libstdc++ has no USDT probes")
    src = tmp_path / "thr.cpp"
    src.write_text(THROW_CPP)
    exe = tmp_path / "thr"
    subprocess.run([gxx, "-O2", "-o", str(exe), str(src)], check=True, capture_output=True)
    got, _ = trace(e2e, "usdt:libstdc++:libstdcxx:throw { @t = count(); } "
                        "usdt:libstdc++:catch { @c = count(); }", f"{exe} 5")
    assert got == {"@t": "5", "@c": "5"}


def test_pid_and_star_target(e2e, prog):
    """-p PID with usdt:*: the process's mapped files are searched."""
    p = subprocess.Popen([prog, "3", "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        r = e2e.run_cli("-l", "usdt:*", "-p", str(p.pid))
        assert f"usdt:{prog}:bstest:constant" in r.stdout.splitlines()
        t = e2e.Trace("-p", str(p.pid), "-e",
                      "usdt:*:bstest:constant { @[arg1] = count(); } "
                      "usdt:*:bstest:guarded { @g = count(); } "
                      "usdt:*:other:tick { exit(); }")
        p.stdin.write("g")
        p.stdin.close()
        out, err = t.finish()
        assert t.returncode == 0, err
        assert maps_of(out) == {"@[0]": "1", "@[-1]": "1", "@[-2]": "1", "@g": "3"}
        assert "semaphore=1" in p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_listing(e2e, prog):
    everything = [f"usdt:{prog}:bstest:{n}"
                  for n in ("constant", "global", "guarded", "indexed", "multi", "tick")] + \
                 [f"usdt:{prog}:other:tick"]
    for pattern in (f"usdt:{prog}", f"usdt:{prog}:*"):
        r = e2e.run_cli("-l", pattern)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == everything
    r = e2e.run_cli("-l", f"usdt:{prog}:bstest:g*")
    assert r.stdout.splitlines() == [f"usdt:{prog}:bstest:global",
                                     f"usdt:{prog}:bstest:guarded"]


def test_error_missing_probe(e2e, prog):
    r = e2e.run_cli("-e", f"usdt:{prog}:bstest:nosuch {{ }}")
    assert r.returncode == 1
    assert f"ERROR: Failed to find usdt probe: usdt:{prog}:bstest:nosuch" in r.stderr
    assert "Traceback" not in r.stderr


def test_error_ambiguous_name(e2e, prog):
    r = e2e.run_cli("-e", f"usdt:{prog}:tick {{ }}")
    assert r.returncode == 1
    assert f"ERROR: namespace for usdt:{prog}:tick not specified, matched 2 probes" in r.stderr
    assert "INFO: please specify a unique namespace or use '*' to attach to all matched probes" \
        in r.stderr


def test_error_missing_file_and_arg(e2e, prog):
    r = e2e.run_cli("-e", "usdt:/no/such/file:a:b { }")
    assert r.returncode == 1
    assert "ERROR: usdt target file '/no/such/file' does not exist or is not executable" \
        in r.stderr
    r = e2e.run_cli("-e", f"usdt:{prog}:bstest:constant {{ print(arg2); }}")
    assert r.returncode == 1
    assert f"usdt:{prog}:bstest:constant has 2 arguments: arg2 is not one of them" in r.stderr
    r = e2e.run_cli("-e", f"usdt:{prog}:bstest:constant {{ print(func); }}")
    assert "The func builtin can not be used with 'usdt' probes" in r.stderr
