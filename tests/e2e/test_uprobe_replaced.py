"""A library replaced while it is traced: bpfscope notices the new inode at
the uprobe's path, attaches again in the new file and says so; calls made
by processes that map the new library are counted (their distinct return
value shows which library answered)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

LIB_SRC = "int f(void) {{ asm volatile(\"\"); return {ret}; }}\n"
MAIN_SRC = r"""
#include <stdio.h>
int f(void);
int main(void) { printf("%d\n", f()); return 0; }
"""


@pytest.fixture
def libdir(tmp_path, kernel):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test library")

    def build_lib(ret: int, out: str):
        src = tmp_path / f"bsv{ret}.c"
        src.write_text(LIB_SRC.format(ret=ret))
        subprocess.run([gcc, "-O2", "-shared", "-fPIC", "-o", out, str(src)],
                       check=True, capture_output=True)

    build_lib(1, str(tmp_path / "libbsv.so"))
    (tmp_path / "caller.c").write_text(MAIN_SRC)
    subprocess.run([gcc, "-O2", "-o", str(tmp_path / "caller"), str(tmp_path / "caller.c"),
                    f"-L{tmp_path}", "-lbsv", f"-Wl,-rpath,{tmp_path}"],
                   check=True, capture_output=True)
    return tmp_path, build_lib


def _call(d, n: int, want: int):
    for _ in range(n):
        r = subprocess.run([str(d / "caller")], capture_output=True, text=True, check=True)
        assert r.stdout.strip() == str(want)


def _wait_stderr(proc, pattern: str, timeout: float) -> str:
    seen, deadline = b"", time.monotonic() + timeout
    fd = proc.stderr.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
            if re.search(pattern, seen.decode(errors="replace")):
                return seen.decode()
    raise AssertionError(f"no {pattern!r} on stderr within {timeout} s: {seen!r}")


def test_replaced_library_is_traced_again(e2e, libdir, no_leaks):
    d, build_lib = libdir
    lib = str(d / "libbsv.so")
    old_ino = os.stat(lib).st_ino
    # not e2e.Trace: the library has no debug info, so a warning that
    # inlining cannot be checked comes before "Attached"
    proc = subprocess.Popen([*e2e.CLI, "-e", f"uprobe:{lib}:f {{ @calls = count(); }} "
                             f"uretprobe:{lib}:f {{ @ret[retval] = count(); }}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        err = _wait_stderr(proc, r"Attached 2 probes\n", timeout=15)
        _call(d, 3, 1)
        tmp = str(d / "libbsv.so.new")
        build_lib(2, tmp)
        os.rename(tmp, lib)
        new_ino = os.stat(lib).st_ino
        assert new_ino != old_ino
        err += _wait_stderr(proc, r"Re-attached uretprobe:.*\n", timeout=10)
        _call(d, 4, 2)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = out.decode()
    err += rest.decode()
    assert proc.returncode == 0, err
    for p in ("uprobe", "uretprobe"):
        assert (f"Re-attached {p}:{lib}:f: {lib} was replaced "
                f"(inode {old_ino} -> {new_ino})") in err
    assert "Traceback" not in err
    maps = dict(re.findall(r"^(@\S+): (\d+)$", out, re.M))
    assert maps == {"@calls": "7", "@ret[1]": "3", "@ret[2]": "4"}, out


# f() = 5 only if its first instruction runs: vpcmpeqd (VEX 0F 76, which
# the kernel would emulate as a jbe) sets xmm4 to all ones, which reaches
# eax through the red zone (vmovups is VEX 0F 11: not a hazard) and + 6.
HAZARD_S = """\t.text
\t.globl f
\t.type f,@function
f:
\tvpcmpeqd %xmm4, %xmm4, %xmm4
\tvmovups %xmm4, -24(%rsp)
\tmov -24(%rsp), %eax
\tadd $6, %eax
\tret
\t.size f, .-f
\t.section .note.GNU-stack,"",@progbits
"""


def test_replacement_with_a_hazardous_entry_is_placed_again(e2e, libdir, no_leaks):
    """The new library's f starts with vpcmpeqd (VEX 0F 76, which the kernel
    would emulate as a jbe instead of running it): the re-attached probe
    goes past it, as a first attach would place it, so the callers still
    get the right value (a probe reusing the entry makes f return 6)."""
    if " avx " not in open("/proc/cpuinfo").read().replace("\n", " "):
        pytest.skip("the CPU has no AVX: the library's vpor would fault")
    d, build_lib = libdir
    lib = str(d / "libbsv.so")
    proc = subprocess.Popen([*e2e.CLI, "-e", f"uprobe:{lib}:f {{ @calls = count(); }}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        err = _wait_stderr(proc, r"Attached 1 probe\n", timeout=15)
        _call(d, 2, 1)
        src = d / "hazard.S"
        src.write_text(HAZARD_S)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(d / "libbsv.so.new"),
                        str(src)], check=True, capture_output=True)
        from bpfscope.elf import SymbolTable
        st = SymbolTable(str(d / "libbsv.so.new"))
        entry = st.elf.read_vaddr(st.lookup_one("f").value, 4)
        assert entry == bytes.fromhex("c5d976e4"), entry.hex()
        os.rename(str(d / "libbsv.so.new"), lib)
        err += _wait_stderr(proc, r"Re-attached uprobe:.*\n", timeout=10)
        _call(d, 3, 5)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err += rest.decode()
    assert proc.returncode == 0, err
    assert f"Re-attached uprobe:{lib}:f (placed at +4, past its hazardous entry)" in err
    assert re.search(r"^@calls: 5$", out.decode(), re.M), out


PAIR_SRC = ("int bs_f(void) {{ asm volatile(\"\"); return {ret}; }}\n"
            "int bs_g(void) {{ asm volatile(\"\"); return {ret} + 10; }}\n")
PAIR_MAIN = r"""
#include <stdio.h>
int bs_f(void); int bs_g(void);
int main(void) { printf("%d %d\n", bs_f(), bs_g()); return 0; }
"""


def test_replaced_library_under_one_shared_link(e2e, tmp_path, kernel, no_leaks):
    """Two uretprobes of one wildcard with the same code: on this kernel
    one program and one uprobe_multi link (or, without those, two perf
    events); both are attached again in the new file."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test library")
    lib = str(tmp_path / "libbsp.so")

    def build(ret: int, out: str):
        (tmp_path / "pair.c").write_text(PAIR_SRC.format(ret=ret))
        subprocess.run([gcc, "-O2", "-shared", "-fPIC", "-o", out, str(tmp_path / "pair.c")],
                       check=True, capture_output=True)

    def call(n: int, want: str):
        for _ in range(n):
            r = subprocess.run([str(tmp_path / "caller")], capture_output=True, text=True,
                               check=True)
            assert r.stdout.strip() == want

    build(1, lib)
    (tmp_path / "caller.c").write_text(PAIR_MAIN)
    subprocess.run([gcc, "-O2", "-o", str(tmp_path / "caller"), str(tmp_path / "caller.c"),
                    f"-L{tmp_path}", "-lbsp", f"-Wl,-rpath,{tmp_path}"],
                   check=True, capture_output=True)
    proc = subprocess.Popen([*e2e.CLI, "-e", f"uretprobe:{lib}:bs_* {{ @ret[retval] = count(); }}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        err = _wait_stderr(proc, r"Attached 2 probes\n", timeout=15)
        call(3, "1 11")
        build(2, lib + ".new")
        os.rename(lib + ".new", lib)
        err += _wait_stderr(proc, r"(Re-attached uretprobe:.*\n.*){2}", timeout=10)
        call(4, "2 12")
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = out.decode(), err + rest.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    maps = dict(re.findall(r"^(@\S+): (\d+)$", out, re.M))
    assert maps == {"@ret[1]": "3", "@ret[11]": "3", "@ret[2]": "4", "@ret[12]": "4"}, out
