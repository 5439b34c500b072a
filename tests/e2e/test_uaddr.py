"""uaddr() end to end: a test program prints where its globals really are
(PIE, so a new place every run); the trace must print the same addresses
and read a string global through them. Also uprobes without a target
under -c and -p, and the -c program's own libraries."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
unsigned int counter = 0x1234;
char greeting[] = "hello from uaddr";
__attribute__((noinline)) int tick(int i) { asm volatile(""); counter += i; return counter; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2) {               /* wait for the tracer: pid, then a byte */
    printf("%d\n", getpid());
    fflush(stdout);
    char c;
    if (read(0, &c, 1) != 1) return 1;
  }
  printf("at %p %p\n", (void *)&counter, (void *)greeting);
  fflush(stdout);
  for (int i = 0; i < n; i++) tick(i);
  return 0;
}
"""


def _build(tmp_path_factory, *flags) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the uaddr test program")
    d = tmp_path_factory.mktemp("uaddr_e2e")
    (d / "ua.c").write_text(SRC)
    subprocess.run([gcc, "-O1", *flags, "-o", str(d / "ua"), str(d / "ua.c")],
                   check=True, capture_output=True)
    return str(d / "ua")


@pytest.fixture(scope="module")
def prog(tmp_path_factory, kernel) -> str:
    return _build(tmp_path_factory, "-fPIE", "-pie")


@pytest.fixture(scope="module")
def prog_nopie(tmp_path_factory, kernel) -> str:
    return _build(tmp_path_factory, "-fno-PIE", "-no-pie")


def where(stdout: str) -> tuple[str, str]:
    m = re.search(r"^at (0x[0-9a-f]+) (0x[0-9a-f]+)$", stdout, re.M)
    assert m, stdout
    return m.group(1), m.group(2)


@pytest.mark.parametrize("which", ["pie", "nopie"])
def test_uaddr_is_the_runtime_address(e2e, prog, prog_nopie, which, no_leaks):
    p = prog if which == "pie" else prog_nopie
    r = e2e.run_prog(f'uprobe:{p}:tick {{ printf("%p %p %s %d %d\\n", uaddr("counter"), '
                     f'uaddr("greeting"), str(uaddr("greeting")), *uaddr("counter"), arg0); }}',
                     "-c", f"{p} 3")
    counter, greeting = where(r.stdout)
    traced = [line for line in r.stdout.splitlines() if line and not line.startswith("at ")]
    # tick(i) adds i to counter (0x1234) after the probe has read it
    assert traced == [f"{counter} {greeting} hello from uaddr {v} {i}"
                      for i, v in enumerate((0x1234, 0x1234, 0x1235))]


def trace_pid(e2e, prog: str, n: int, script: str) -> tuple[str, str]:
    """Start prog (waiting), trace it with -p, let it run n ticks; the
    program's stdout and the trace's. The trace ends with the process."""
    child = subprocess.Popen([prog, str(n), "wait"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        pid = int(child.stdout.readline())
        t = e2e.Trace("-p", str(pid), "-e", script)
        child.stdin.write("g")
        child.stdin.close()
        prog_out = child.stdout.read()
        assert child.wait(10) == 0
        out, err = t.finish()
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    assert t.returncode == 0, err
    return prog_out, out


def test_uaddr_in_uretprobe_with_pid(e2e, prog):
    """In a uretprobe of a PIE the bias comes from the -p process's maps."""
    prog_out, out = trace_pid(e2e, prog, 2, f'uretprobe:{prog}:tick {{ printf("%p %d\\n", '
                                            f'uaddr("counter"), retval); }}')
    counter, _ = where(prog_out)
    assert [line for line in out.splitlines() if line] == [f"{counter} {0x1234}",
                                                          f"{counter} {0x1235}"]


def test_uaddr_in_uretprobe_of_a_program(e2e, prog, no_leaks):
    """No -p: the running program's start of code gives the bias."""
    r = e2e.run_prog(f'uretprobe:{prog}:tick {{ printf("%p %d\\n", uaddr("counter"), '
                     f'*uaddr("counter")); }}', "-c", f"{prog} 2")
    counter, _ = where(r.stdout)
    traced = [line for line in r.stdout.splitlines() if line and not line.startswith("at ")]
    assert traced == [f"{counter} {0x1234}", f"{counter} {0x1235}"]


def test_uaddr_in_uretprobe_of_a_library_needs_a_pid(e2e):
    r = e2e.run_cli("-e", 'uretprobe:libc:getpid { print(uaddr("environ")); }')
    assert r.returncode == 1
    assert "position-independent library" in r.stderr and "-p PID" in r.stderr
    assert "Traceback" not in r.stderr


def test_uaddr_outside_user_probes(e2e):
    r = e2e.run_cli("-e", 'BEGIN { print(uaddr("counter")); }')
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        'stdin:1:15-31: ERROR: uaddr can not be used with "BEGIN" probes',
        'BEGIN { print(uaddr("counter")); }',
        '              ~~~~~~~~~~~~~~~~']


def test_target_left_out_with_c(e2e, prog):
    """uprobe:func under -c means the -c program (not the tracer's child
    before it ran the program)."""
    r = e2e.run_prog('uprobe:tick { @[probe] = count(); } uretprobe:tick { @r = count(); }',
                     "-c", f"{prog} 4")
    assert f"@[uprobe:{prog}:tick]: 4" in r.stdout.splitlines()
    assert "@r: 4" in r.stdout.splitlines()


def test_target_left_out_with_p(e2e, prog):
    _, out = trace_pid(e2e, prog, 5, "uprobe:tick { @[func] = count(); }")
    assert "@[tick]: 5" in out.splitlines()


def test_target_left_out_without_c_or_p(e2e):
    r = e2e.run_cli("-e", "uprobe:tick { }")
    assert r.returncode == 1
    assert "ERROR: uprobe probe type requires 2 or 3 arguments, found 1" in r.stderr


def test_p_of_a_process_that_does_not_exist(e2e):
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid, free now (and not taken again this soon)
    r = e2e.run_cli("-p", str(gone.pid), "-e", "tracepoint:syscalls:sys_enter_getpid { }")
    assert r.returncode == 1
    assert r.stderr == f"ERROR: -p {gone.pid}: no such process\n"
    # past the kernel's pid_max: bpftrace 0.26's message
    r = e2e.run_cli("-p", "999999999", "-e", "tracepoint:syscalls:sys_enter_getpid { }")
    assert r.returncode == 1
    assert r.stderr == "ERROR: Pid out of range: 999999999\n"


def test_library_of_the_c_program_through_its_runpath(e2e, tmp_path, kernel):
    """uprobe:libfoo:f under -c finds the libfoo the program loads from its
    own RUNPATH ($ORIGIN/lib), a directory ld.so.cache does not list."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the library test")
    (tmp_path / "lib").mkdir()
    (tmp_path / "foo.c").write_text(
        '__attribute__((noinline)) int foo_work(int x) { asm volatile(""); return 2 * x; }\n')
    (tmp_path / "app.c").write_text(
        "#include <stdlib.h>\nint foo_work(int);\n"
        "int main(int c, char **v) { int n = atoi(v[1]), s = 0;\n"
        "  for (int i = 0; i < n; i++) s += foo_work(i); return s == -1; }\n")
    lib = tmp_path / "lib" / "libbsfoo.so.1"
    subprocess.run([gcc, "-O1", "-shared", "-fPIC", "-Wl,-soname,libbsfoo.so.1", "-o", str(lib),
                    str(tmp_path / "foo.c")], check=True, capture_output=True)
    (tmp_path / "lib" / "libbsfoo.so").symlink_to("libbsfoo.so.1")
    app = tmp_path / "app"
    subprocess.run([gcc, "-O1", "-o", str(app), str(tmp_path / "app.c"), f"-L{lib.parent}",
                    "-lbsfoo", "-Wl,-rpath,$ORIGIN/lib"], check=True, capture_output=True)
    from bpfscope.elf import ElfFile
    with ElfFile(str(app)) as elf:
        needed, dirs = elf.dependencies()
    assert "libbsfoo.so.1" in needed and dirs == [str(tmp_path / "lib")]
    r = e2e.run_prog("uprobe:libbsfoo:foo_work { @[probe] = count(); }", "-c", f"{app} 4")
    assert f"@[uprobe:{lib}:foo_work]: 4" in r.stdout.splitlines()
