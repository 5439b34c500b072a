"""Fixtures for bpfscope.elf tests: small programs compiled with gcc/g++
into a temporary directory (skipped when the compiler is missing), and
nm's view of a file when binutils is installed."""

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import debugfile

PROGS = os.path.join(os.path.dirname(__file__), "progs")


def _build(tmp_path_factory, compiler, src, out, *flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    d = tmp_path_factory.mktemp("elfprogs")
    path = str(d / out)
    r = subprocess.run([compiler, *flags, "-o", path, os.path.join(PROGS, src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"{compiler} failed on {src}:\n{r.stderr}")
    return path


@pytest.fixture(scope="session")
def symprog(tmp_path_factory):
    """-O2 PIE: has work.cold, scale.constprop.0, big_body.part.0 (GCC 12)."""
    return _build(tmp_path_factory, "gcc", "symprog.c", "symprog", "-O2", "-pie", "-fPIE")


@pytest.fixture(scope="session")
def symprog_nopie(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "symprog.c", "symprog_nopie", "-O2", "-no-pie")


@pytest.fixture(scope="session")
def symprog_stripped(tmp_path_factory, symprog):
    if shutil.which("strip") is None:
        pytest.skip("strip is not installed")
    out = str(tmp_path_factory.mktemp("stripped") / "symprog")
    subprocess.run(["strip", "-o", out, symprog], check=True)
    return out


@pytest.fixture(scope="session")
def cxxprog(tmp_path_factory):
    return _build(tmp_path_factory, "g++", "cxxprog.cpp", "cxxprog", "-O2")


@pytest.fixture(scope="session")
def usdt_asm(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "usdt_asm.c", "usdt_asm", "-O2")


@pytest.fixture(scope="session")
def usdt_sdt(tmp_path_factory):
    # Debian puts it under the multiarch include directory
    if not any(os.path.exists(d + "/sys/sdt.h") for d in
               ("/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu")):
        pytest.skip("sys/sdt.h is missing (install systemtap-sdt-dev)")
    return _build(tmp_path_factory, "gcc", "usdt_sdt.c", "usdt_sdt", "-O2")


def nm_symbols(path, dynamic=False):
    """{(name, address)} of defined symbols according to nm; skips the
    test if nm is missing."""
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    args = ["nm", "--defined-only", "--with-symbol-versions"]
    if dynamic:
        args.append("-D")
    r = subprocess.run(args + [path], capture_output=True, text=True, check=True)
    out = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.add((parts[2], int(parts[0], 16), parts[1]))
    return out


@pytest.fixture
def nm():
    return nm_symbols


@pytest.fixture(autouse=True)
def fresh_debug_search():
    """No --debuginfo directories and nothing remembered of debug files,
    before and after each test (tests set their own)."""
    debugfile.set_search_dirs(())
    debugfile.forget()
    yield
    debugfile.set_search_dirs(())
    debugfile.forget()


@pytest.fixture
def assert_cannot_tell():
    """check(prog, gone, reason): with file ``gone`` removed, the inline
    checker has no index of prog, for ``reason``, and says so."""
    from bpfscope.attach import inlined
    from bpfscope.elf import SymbolTable

    def check(prog, gone, reason):
        os.unlink(gone)
        inlined.forget(prog)
        idx = inlined.index_of(prog)
        assert isinstance(idx, inlined.NoDebugInfo) and idx.reason == reason
        w = inlined.check_function(prog, "compute", SymbolTable(prog))
        assert f"cannot tell whether compute is inlined: {reason}" in w, w
    return check
