"""Tests that run inside the VM lane's guest kernels (Debian's 5.10, 6.1,
6.12 and sid's newest, with kprobes, fentry and BTF), one pytest run per kernel started by
tests/vm/test_vm_lane.py. Each is marked ``vmlane`` (tests/vm/conftest.py
adds the mark to everything here) and skips on the host.

In the guest: root, the host's / read-only under a throwaway tmpfs overlay
(writes anywhere succeed and are lost), tracefs, debugfs and bpffs mounted,
the working directory is the repository root, and
``BPFSCOPE_VMLANE_GUEST`` is the guest's kernel release. The place for the
kprobe and fentry provider tests is here, beside test_smoke.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # guestlib, clizygote
CLI = [sys.executable, "-m", "bpfscope.cli"]

# Forked now, before any test has run bpfscope in this process (clizygote.py).
_zygote = None
if os.environ.get("BPFSCOPE_VMLANE_GUEST") and os.environ.get("BPFSCOPE_VMLANE_ZYGOTE", "1") != "0":
    from clizygote import CliZygote
    _zygote = CliZygote(str(ROOT))


def pytest_unconfigure(config):
    if _zygote is not None:
        _zygote.close()


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m bpfscope.cli ARGS`` from the repository root, to
    completion (forked from the zygote in the guest)."""
    if _zygote is not None:
        return _zygote.run(args, timeout)
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def bse2e(tmp_path_factory) -> str:
    """tests/e2e/progs/bse2e.c built static (no loader opens: ``bse2e open
    PATH N`` makes exactly N openat calls); its comm is 'bse2e'. The lane
    builds it on the host (gcc is slow under emulation) and names it in
    BPFSCOPE_VMLANE_BSE2E."""
    import shutil
    built = os.environ.get("BPFSCOPE_VMLANE_BSE2E")
    if built and os.access(built, os.X_OK):
        return built
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the bse2e helper")
    out = tmp_path_factory.mktemp("progs") / "bse2e"
    subprocess.run([gcc, "-O1", "-static", "-o", str(out),
                    str(ROOT / "tests/e2e/progs/bse2e.c")], check=True, capture_output=True)
    return str(out)
