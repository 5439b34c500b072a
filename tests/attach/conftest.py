"""Shared fixtures of the attach tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.attach import providers, uprobe


class SpecAP:
    """An attach point as the parser makes it, from its text alone."""

    def __init__(self, text: str):
        self.raw = text
        self.parts = uprobe.split_spec(text)
        self.span = None


@pytest.fixture
def expand_spec():
    """expand_spec('uprobe:/bin/x:f', unsafe=True, ...): the provider's
    expansion of one attach point with those ProbeOptions."""
    def expand(text: str, **opts):
        return providers.expand(SpecAP(text), providers.ProbeOptions(**opts))
    return expand


@pytest.fixture(scope="session")
def btf_enc():
    """tests/btf/conftest.py as a module: its ``Enc`` builds BTF blobs by hand."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "btf_encoder", Path(__file__).parents[1] / "btf" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PROGS = Path(__file__).parent / "progs"


@pytest.fixture(scope="session")
def build_prog(tmp_path_factory):
    """build_prog(name, flags, *sources): gcc FLAGS -o NAME SOURCES (names
    under tests/attach/progs/), once per session; its path. Skips without
    gcc."""
    built: dict[tuple, str] = {}

    def build(name: str, flags: tuple[str, ...], *sources: str) -> str:
        key = (name, flags, sources)
        if key not in built:
            gcc = shutil.which("gcc")
            if gcc is None:
                pytest.skip(f"no gcc to build {name}")
            out = tmp_path_factory.mktemp(name) / name
            subprocess.run([gcc, *flags, "-o", str(out), *(str(PROGS / s) for s in sources)],
                           check=True, capture_output=True)
            built[key] = str(out)
        return built[key]
    return build
