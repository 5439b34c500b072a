"""Tests that run inside the VM lane's guest kernel (Debian 6.1 and 6.12,
with kprobes, fentry and BTF), one pytest run per kernel started by
tests/vm/test_vm_lane.py. Each is marked ``vmlane`` (tests/vm/conftest.py
adds the mark to everything here) and skips on the host.

In the guest: root, the host's / read-only under a throwaway tmpfs overlay
(writes anywhere succeed and are lost), tracefs, debugfs and bpffs mounted,
the working directory is the repository root, and
``BPFSCOPE_VMLANE_GUEST`` is the guest's kernel release. The place for the
kprobe and fentry provider tests is here, beside test_smoke.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "bpfscope.cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m bpfscope.cli ARGS`` from the repository root, to completion."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli
