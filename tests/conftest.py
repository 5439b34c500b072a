"""Fills the builtin function table (sema.registry) for every test, as
api.compile_script does for the CLI: tests build the Analyzer directly."""

import bpfscope.functions  # noqa: F401
