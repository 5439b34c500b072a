"""What every output format shares: an output stream for the trace's data
and a diagnostics stream for warnings and errors, which bpftrace writes as
plain text whatever the format."""

from __future__ import annotations

import sys
from typing import TextIO


# Why events were missed, as the text output says it.
MISSED_WHY = {
    "recursion": "the program was already running on their CPU",
    "kprobe": "the kernel's kprobe missed them (another kprobe was running "
              "on the CPU, or a kretprobe had no free instance)",
}


class StreamSink:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    def warning(self, msg: str) -> None:
        self.err.write(f"WARNING: {msg}\n")

    def warning_at(self, text: str) -> None:
        """A warning already laid out with its place in the script."""
        self.err.write(text + "\n")

    def missed_events(self, probe: str, n: int, reason: str) -> None:
        self.warning(f"{probe}: {n} events were missed: {MISSED_WHY[reason]}")

    def error(self, msg: str) -> None:
        self.err.write(f"ERROR: {msg}\n")

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()
