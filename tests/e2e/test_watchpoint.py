"""watchpoint: hardware breakpoints for real: the test's own helper writes
and reads a global of its own a known number of times; the counts are
what the CPU's debug registers saw. A machine without hardware
breakpoints skips with the kernel's reason."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import pytest

from bpfscope.bpf import perf
from bpfscope.bpf.consts import PerfType

pytestmark = pytest.mark.usefixtures("kernel")
PROGS = os.path.join(os.path.dirname(__file__), "progs")


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the watchpoint helper")
    out = tmp_path_factory.mktemp("progs") / "watched"
    subprocess.run([gcc, "-O1", "-o", str(out), os.path.join(PROGS, "watched.c")],
                   check=True, capture_output=True)
    # does this machine have hardware breakpoints at all?
    import ctypes
    probe = ctypes.c_long()
    try:
        os.close(perf.perf_event_open(PerfType.BREAKPOINT, 0, sample_period=1,
                                      pid=os.getpid(), cpu=-1, bp_type=2,
                                      config1=ctypes.addressof(probe), config2=8))
    except OSError as e:
        pytest.skip(f"no hardware breakpoints here: {errno.errorcode.get(e.errno, e.errno)}")
    return str(out)


def start(watched, writes: int, reads: int):
    p = subprocess.Popen([watched, str(writes), str(reads)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    pid, addr = p.stdout.readline().split()
    return p, int(pid), addr


def test_writes_and_reads_of_a_process_global(e2e, watched, no_leaks):
    p, pid, addr = start(watched, 7, 3)
    try:
        t = e2e.Trace("-p", str(pid), "-e",
                      f"watchpoint:{addr}:8:w {{ @w[probe, comm] = count(); }} "
                      f"aw:{addr}:8:rw {{ @rw = count(); }} "
                      f"tracepoint:sched:sched_process_exit /pid == {pid}/ {{ exit(); }}")
        p.stdin.write("g")
        p.stdin.close()
        assert p.wait(10) == 0
        out, err = t.finish()
    finally:
        p.kill()
        p.wait()
    assert t.returncode == 0, err
    assert err == "Attached 3 probes\n"
    assert f"@w[watchpoint:0x{int(addr, 16):x}:8:w, watched]: 7\n" in out, out
    assert "@rw: 10\n" in out, out   # 7 writes and 3 reads


def test_the_c_child_is_watched_from_its_exec(e2e, watched, tmp_path, no_leaks):
    """-c: a program of fixed addresses; the forked tracer copy that execs
    it is not watched. The ELF loader zeroing .bss during exec writes the
    global too: those hits have a kernel stack, the program's own none."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    exe = tmp_path / "watched_np"
    subprocess.run([gcc, "-O1", "-no-pie", "-fno-pie", "-o", str(exe),
                    os.path.join(PROGS, "watched.c")], check=True, capture_output=True)
    nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True)
    if nm.returncode != 0:
        pytest.skip("needs nm (binutils)")
    addr = next(line.split()[0] for line in nm.stdout.splitlines()
                if line.endswith(" watched_value"))
    r = e2e.run_cli("-c", f"{exe} 6 2", "-e",
                    f"watchpoint:0x{addr}:8:w {{ @[kstack(1)] = count(); }}", input="g")
    assert r.returncode == 0, r.stderr
    assert "@[\n]: 6\n" in r.stdout, r.stdout   # the 6 writes of the program itself


def test_kernel_address_without_pid(e2e, watched, no_leaks):
    with open("/proc/kallsyms") as f:
        jiffies = next((line.split()[0] for line in f if line.split()[2:3] == ["jiffies"]),
                       None)
    if jiffies is None:
        pytest.skip("the kernel lists no data symbols (/proc/kallsyms has no jiffies)")
    r = e2e.run_cli("-e", f"watchpoint:0x{jiffies}:8:w {{ @ = count(); }} "
                    "interval:ms:300 { exit(); }")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split("@: ")[1]) > 0


@pytest.mark.parametrize("spec, message, cols", [
    ("watchpoint:0x1000:3:w", "watchpoint length must be one of (1,2,4,8)", "1-22"),
    ("watchpoint:0x1000:8:q", "watchpoint mode must be combination of (r,w,x)", "1-22"),
    ("watchpoint:0x1004:8:w", "watchpoint address 0x1004 is not aligned to its length (8)",
     "1-22"),
    ("w:increment+arg1:4:w", "watchpoint on a function's argument (increment+arg1) is not "
     "supported yet; give an absolute address", "1-21"),
])
def test_bad_specs(e2e, spec, message, cols):
    r = e2e.run_cli("-e", f"{spec} {{ }}")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == f"stdin:1:{cols}: ERROR: {message}"
    assert "Traceback" not in r.stderr
