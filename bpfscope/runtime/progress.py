"""A progress line for attaching and detaching that takes long.

Attaching a thousand uprobes one perf event at a time, or closing them
(the kernel waits out a grace period per event), can take tens of
seconds; without a word the tracer looks hung. Once a phase has run
longer than ``after`` seconds (1 by default; BPFSCOPE_PROGRESS_AFTER sets
it), :class:`Progress` says how far it is, at most once a second.
"""

from __future__ import annotations

import os
import time
from typing import Callable


def _after_default() -> float:
    try:
        return max(0.0, float(os.environ.get("BPFSCOPE_PROGRESS_AFTER", "1")))
    except ValueError:
        return 1.0


class Progress:
    """``update(done)`` as items finish; ``finish()`` at the end. ``emit``
    gets whole lines without the newline."""

    def __init__(self, verb: str, total: int, emit: Callable[[str], None], *,
                 after: float | None = None, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.verb, self.total, self.emit = verb, total, emit
        self.after = _after_default() if after is None else after
        self.every, self.clock = every, clock
        self.start = clock()
        self.next = self.start + self.after
        self.shown = False

    def update(self, done: int) -> None:
        now = self.clock()
        if now < self.next:
            return
        self.next = now + self.every
        self.shown = True
        self.emit(f"{self.verb}: {done} of {self.total} ({now - self.start:.0f} s)")

    def finish(self, past: str | None = None) -> None:
        """With ``past`` ("Detached"), a closing line, if progress was shown."""
        if self.shown and past:
            noun = "probe" if self.total == 1 else "probes"
            self.emit(f"{past} {self.total} {noun} in {self.clock() - self.start:.1f} s")
