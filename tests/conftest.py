"""Shared by every test: the builtin function table (sema.registry) is
filled, as the compile passes fill it for the CLI (tests build the
Analyzer directly), and ``fresh_warnings`` for tests of warnings said
outside any collection. The CLI's compile cache (bpfscope.compilecache)
is off for every test and the commands they run, so that each compiles
what its own fakes and fixtures give; tests/test_compilecache.py turns
it on for itself."""

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
