"""``--info``'s kernel features name the release of each helper a script
may miss and say whether this kernel has it (the VM lane's 5.10 says no
to several)."""

from __future__ import annotations

import pytest

from bpfscope.bpf import features

pytestmark = pytest.mark.usefixtures("kernel")


def test_helper_rows(e2e):
    r = e2e.run_cli("--info")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Kernel features\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "  bpf_for_each_map_elem (for ($kv : @map), Linux 5.13): " + (
        "yes" if features.has_helper(164) else "no") in section
    assert any(line.startswith("  module btf: ") for line in section)
    rows = [line for line in section if line.startswith("  bpf_")]
    assert len(rows) == sum(1 for _, _, use in features.HELPER_SINCE.values() if use)
