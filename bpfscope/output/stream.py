"""What every output format shares: an output stream for the trace's data
and a diagnostics stream for warnings and errors, which bpftrace writes as
plain text whatever the format."""

from __future__ import annotations

import sys
from typing import TextIO


class StreamSink:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    def warning(self, msg: str) -> None:
        self.err.write(f"WARNING: {msg}\n")

    def warning_at(self, text: str) -> None:
        """A warning already laid out with its place in the script."""
        self.err.write(text + "\n")

    def error(self, msg: str) -> None:
        self.err.write(f"ERROR: {msg}\n")

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()
