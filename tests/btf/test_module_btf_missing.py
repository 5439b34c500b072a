"""A module without BTF: before Linux 5.11 no module has any, and the error
says which release brings it; later the module is probably not loaded."""

from __future__ import annotations

import os

import pytest

from bpfscope.btf import BtfError, loader


def uname(release):
    real = os.uname()
    return lambda: os.uname_result((real.sysname, real.nodename, release, real.version,
                                    real.machine))


@pytest.mark.parametrize("release,others,why", [
    ("5.10.0-32-amd64", [], "this kernel has no module BTF at all (Linux 5.11 brings it"),
    ("5.10.0-32-amd64", ["9p"], "is the module loaded?"),
    ("6.1.0-57-amd64", [], "is the module loaded?"),
])
def test_missing_module_btf(tmp_path, monkeypatch, release, others, why):
    for name in ["vmlinux", *others]:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(loader.os, "uname", uname(release))
    with pytest.raises(BtfError) as e:
        loader._read(str(tmp_path / "overlay"), "overlay")
    assert "module 'overlay' has no BTF" in str(e.value)
    assert why in str(e.value)
