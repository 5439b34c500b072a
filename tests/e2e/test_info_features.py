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
    helpers = {name for name, _, use in features.HELPER_SINCE.values() if use}
    rows = [line for line in section if line.split(" (")[0].strip() in helpers]
    assert len(rows) == len(helpers)


def test_kfunc_and_key_size_rows(e2e):
    """The kernel functions bpfscope calls where the kernel has them, and
    hash keys over 512 bytes, each with its release."""
    from bpfscope.btf import load_vmlinux
    r = e2e.run_cli("--info")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Kernel features\n", 1)[1].split("\n\n", 1)[0].splitlines()
    for name, (since, use) in features.KFUNC_SINCE.items():
        has = load_vmlinux().find(name, "func") is not None
        assert f"  {name} ({use}, Linux {since}): {'yes' if has else 'no'}" in section
    assert ("  hash map keys over 512 bytes (str() keys, Linux 5.11): "
            + ("yes" if features.has_big_hash_keys() else "no")) in section
