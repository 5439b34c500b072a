"""SIGINT's default action while the tracer's modules load.

A ^C while they load (a fifth of a second) ends the command by SIGINT's
default action, as a ^C ends bpftrace before it has loaded anything,
instead of a KeyboardInterrupt traceback. A leaf: bpfscope.launch (the
command's entry) and bpfscope.cli (``python -m bpfscope.cli``, programs
importing it) both use it before they import anything else.
"""

from __future__ import annotations

import _signal  # the C module: importing signal takes milliseconds (its enums)


def _default_action(signum, frame):
    # not SIG_DFL itself: a ^C already caught by Python's C handler and not
    # yet handed to a Python one would be dropped by the switch
    _signal.signal(signum, _signal.SIG_DFL)
    _signal.raise_signal(signum)


class default_sigint:
    """Within the block, SIGINT takes its default action; nesting and
    other threads (which cannot set handlers) leave it alone, and so does
    an ignored SIGINT (a background job of sh), which stays ignored."""

    def __enter__(self):
        self.saved = _signal.getsignal(_signal.SIGINT)
        if self.saved is not _signal.default_int_handler:
            self.saved = None
            return self
        try:
            _signal.signal(_signal.SIGINT, _default_action)
        except ValueError:  # not the main thread
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            _signal.signal(_signal.SIGINT, self.saved)
