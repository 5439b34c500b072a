"""The ``bpfscope`` command's entry point, kept tiny on purpose.

scripts/bpfscope (the installed command) gives ^C its default action on its
first line, then calls :func:`main`, which loads the tracer's big modules
(cli, api) under startsignal.default_sigint and then puts Python's own
handler back, so that the CLI sees KeyboardInterrupt as before.
``python -m bpfscope.launch`` works the same without the script.
"""

from __future__ import annotations

import _signal

from .startsignal import default_sigint


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
