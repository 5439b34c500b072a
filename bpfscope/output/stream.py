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

    def script_warning(self, w) -> None:
        self.err.write(w.format() + "\n")

    def warning_at(self, text: str) -> None:
        """A warning already laid out with its place in the script."""
        self.err.write(text + "\n")

    def missed_events(self, probe: str, n: int, reason: str) -> None:
        self.warning(f"{probe}: {n} events were missed: {MISSED_WHY[reason]}")

    def progress(self, line: str) -> None:
        """How far a long attach or detach is (runtime.progress), on stderr
        in every format: it is for the person waiting, not for a parser."""
        self.err.write(line + "\n")
        self.err.flush()

    def lost_events(self, n: int) -> None:
        self.err.write(f"Lost {n} events\n")  # bpftrace 0.26's words, on stderr

    def map_full(self, text: str, filename: str, line: int, col: int) -> None:
        """A map update failed because the map is full: ``text`` is the
        warning laid out at its place in the script."""
        self.warning_at(text)

    def helper_failed(self, text: str, msg: str, helper: str, retcode: int,
                      filename: str, line: int, col: int) -> None:
        """-k: a helper found no element; ``text`` is bpftrace 0.26's warning."""
        self.warning_at(text)

    def dropped(self, kind: str, n: int, what: str, max_strlen: int, filename: str,
                line: int, col: int, end_col: int) -> None:
        """At exit, ``n`` drops of one place in the script: ``kind``
        'stack' (bpf_get_stack failed for ``what``, kstack or ustack) or
        'strcut' (``what``: str, join, buf or a tracepoint field such as
        args.filename, cut at ``max_strlen``)."""
        if kind == "stack":
            msg = (f"{what}: {n} stacks could not be read (bpf_get_stack failed) "
                   "and were counted as empty stacks")
        else:
            label = f"{what}()" if what.isidentifier() else what  # str(), args.filename
            noun = "buffers" if what == "buf" else "strings"
            msg = (f"{label}: {n} {noun} were cut at max_strlen ({max_strlen} bytes); "
                   "raise max_strlen to keep them whole")
        self.err.write(f"{filename}:{line}:{col}-{end_col}: WARNING: {msg}\n")

    def stack_copies(self, n: int, lost: int, name: str, filename: str, line: int, col: int,
                     end_col: int) -> None:
        kept = f"{n - lost} kept, {lost} lost: that map is full" if lost else "none lost"
        self.err.write(f"{filename}:{line}:{col}-{end_col}: {name}: {n} events' stacks got no "
                       "stack id (their stack map bucket held another stack, or it was full) "
                       f"and went to a map of copies ({kept}); raise max_map_keys for fewer\n")

    def error(self, msg: str) -> None:
        self.err.write(f"ERROR: {msg}\n")

    def flush(self) -> None:
        self.out.flush()
        self.err.flush()
