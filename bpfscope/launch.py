"""The ``bpfscope`` console script's entry point, kept tiny on purpose.

A ^C while the tracer's modules load ends the command by SIGINT's default
action, as a ^C ends bpftrace before it has loaded anything, instead of
printing a KeyboardInterrupt traceback. The console script imports this
script (scripts/bpfscope) switches before it imports anything, and this
module covers the big modules (cli, api) for ``python -m bpfscope.launch``
style entries; every millisecond before the switch is a window where
Python's own handler would raise. Python's handler is put back once they are loaded, for
programs that import bpfscope.
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


def main(startup_handler=None):
    """The command. ``startup_handler``: the one scripts/bpfscope set
    before anything was imported, replaced by Python's once the tracer's
    modules are in."""
    with default_sigint():
        from .cli import main as cli_main
    if startup_handler is not None and _signal.getsignal(_signal.SIGINT) is startup_handler:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
