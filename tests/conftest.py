"""Shared by every test: the builtin function table (sema.registry) is
filled, as the compile passes fill it for the CLI (tests build the
Analyzer directly), and ``fresh_warnings`` for tests of warnings said
outside any collection. The CLI's compile cache (bpfscope.compilecache)
is off for every test and the commands they run, so that each compiles
what its own fakes and fixtures give; tests/test_compilecache.py turns
it on for itself."""

import os

import os

import pytest

import bpfscope.functions  # noqa: F401
from bpfscope import errors

os.environ["BPFSCOPE_COMPILE_CACHE"] = "0"


@pytest.fixture
def fresh_warnings(monkeypatch):
    """A new process-wide log for warnings said outside any collection
    (once per process): this test hears them even if an earlier one did."""
    monkeypatch.setattr(errors, "_STDERR", errors.WarningLog(forward=errors._to_stderr))


@pytest.fixture(scope="session", autouse=True)
def _private_dwarf_cache(tmp_path_factory):
    """DWARF indexes of the programs tests build go to a directory of the
    session (and the tracers it starts), not to ~/.cache."""
    old = os.environ.get("BPFSCOPE_DWARF_CACHE")
    os.environ["BPFSCOPE_DWARF_CACHE"] = str(tmp_path_factory.mktemp("dwarfcache"))
    yield
    if old is None:
        os.environ.pop("BPFSCOPE_DWARF_CACHE", None)
    else:
        os.environ["BPFSCOPE_DWARF_CACHE"] = old
