"""Errors reported against the user's script, formatted like bpftrace's.

Every layer raises :class:`BpfscopeError` (or a subclass) for bad user input or
a missing kernel feature; the CLI prints it and exits 1, never a traceback.
A ``Span`` ties a message to a place in a :class:`Source`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A source range: 1-based line and column; ``end_col`` is exclusive.

    ``end_line`` may be greater than ``line`` for constructs spanning lines;
    the underline is then drawn to the end of the first line. ``file`` is
    the Source of code that came from another file than the script's own
    (an import); messages then name and quote that file.
    """

    line: int
    col: int
    end_line: int
    end_col: int
    file: "Source | None" = field(default=None, compare=False, repr=False)

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.line, self.col, other.end_line, other.end_col, self.file)


@dataclass
class Source:
    """A script's text and the name errors call it by ('stdin' for -e)."""

    text: str
    name: str = "stdin"

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""


class BpfscopeError(Exception):
    """An error meant for the user. ``span`` is optional."""

    def __init__(self, message: str, span: Span | None = None,
                 source: Source | None = None, notes: list[str] | None = None,
                 detail: str = ""):
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.notes = notes or []
        # Printed after the underlined source line (a verifier log, say).
        self.detail = detail
        # ScriptWarnings found before the error, said before it
        self.warnings: list = []

    def format(self, source: Source | None = None) -> str:
        """bpftrace's layout: ``name:L:C-C: ERROR: msg``, the line, an underline."""
        out = format_located("ERROR", self.message, self.span, self.source or source)
        if self.detail:
            out += "\n" + self.detail.rstrip("\n")
        for n in self.notes:
            out += f"\nHINT: {n}"
        return out

    def __str__(self) -> str:
        return self.format()


def span_end(span: Span, src: Source) -> int:
    """The exclusive end column shown for ``span`` on its first line."""
    end = span.end_col if span.end_line == span.line else len(src.line_text(span.line)) + 1
    return max(end, span.col + 1)


def location(span: Span, src: Source) -> str:
    """``name:L:C-C``, as bpftrace names a place in a script."""
    return f"{src.name}:{span.line}:{span.col}-{span_end(span, src)}"


def format_located(level: str, message: str, span: Span | None,
                   src: Source | None) -> str:
    """``name:L:C-C: LEVEL: message``, the source line and a ``~`` underline;
    just ``LEVEL: message`` without a place."""
    if span is not None and span.file is not None:
        src = span.file
    if span is None or src is None:
        return f"{level}: {message}"
    end = span_end(span, src)
    return (f"{location(span, src)}: {level}: {message}\n"
            + src.line_text(span.line) + "\n"
            + " " * (span.col - 1) + "~" * (end - span.col))


class SyntaxErr(BpfscopeError):
    """The parser could not read the script."""


class SemanticError(BpfscopeError):
    """Names, types or arguments are wrong."""


class MissingProbe(SemanticError):
    """An attach point names nothing that exists here (a function, a
    tracepoint, a file): the missing_probes setting decides whether that
    is an error, a warning or nothing (sema.analyzer)."""


class MissingTracepoint(MissingProbe):
    """A tracepoint that is not in tracefs. Under missing_probes = error
    bpftrace 0.26 warns at the attach point, drops it when another attach
    point of the probe exists, and else stops with its "Unable to attach
    probe" error; ``probe_name`` is the name that error gives."""

    def __init__(self, message: str, probe_name: str, span=None):
        super().__init__(message, span)
        self.probe_name = probe_name


class MissingRawTracepoint(MissingProbe):
    """A raw tracepoint (not a wildcard, no module) the kernel does not
    have. bpftrace 0.26 expands it to no probe at all, so a script of it
    alone ends in "No probes to attach"; bpfscope says so at the attach
    point as a warning and drops it."""


class InternalError(BpfscopeError):
    """bpfscope broke one of its own invariants (a bug to report), said
    in one line instead of a traceback or a silently wrong program."""

    def __init__(self, message: str, **kw):
        super().__init__(f"internal error: {message}", **kw)


class KernelError(BpfscopeError):
    """The kernel refused something (a load, an attach, a map)."""


class VerifierError(KernelError):
    """The verifier rejected a program; ``log`` holds its full log."""

    def __init__(self, message: str, log: str = "", **kw):
        super().__init__(message, **kw)
        self.log = log


# ------------------------------------------------------------ warnings

@dataclass(frozen=True)
class ScriptWarning:
    """A non-fatal problem found while compiling, attaching or running,
    kept as data: the CLI lays it out as text (``WARNING: ...``, located
    when it has a span) or as a JSON record."""
    message: str
    span: Span | None = None
    source: Source | None = None
    # a note is said as it is, without "WARNING: " (what bpfscope did for
    # the user: a fallback it took, stale events it removed)
    note: bool = False

    def format(self) -> str:
        if self.note:
            return self.message
        if self.span is not None and self.source is not None:
            return format_located("WARNING", self.message, self.span, self.source)
        return f"WARNING: {self.message}"


class WarningLog:
    """The warnings of one compile or one session. A warning given twice
    with the same ``key`` is kept once (a wildcard over a library names
    the same problem for many probes); ``forward``, when set, receives
    each new warning as it comes (a running session shows them at once)."""

    def __init__(self, forward=None):
        self.items: list[ScriptWarning] = []
        self._keys: set = set()
        self.forward = forward

    def add(self, w: ScriptWarning, key=None) -> None:
        key = w.message if key is None else key
        if key in self._keys:
            return
        self._keys.add(key)
        self.items.append(w)
        if self.forward is not None:
            self.forward(w)


class _Logs(threading.local):
    # per thread: sessions running side by side (bpfscope.trace, the
    # exporter) each see their own warnings
    def __init__(self):
        self.stack: list[WarningLog] = []


_logs = _Logs()


class collecting:
    """``with collecting(log):`` sends :func:`warn` calls made inside to
    ``log`` (the innermost one of this thread when nested)."""

    def __init__(self, log: WarningLog):
        self.log = log

    def __enter__(self) -> WarningLog:
        _logs.stack.append(self.log)
        return self.log

    def __exit__(self, *exc) -> None:
        _logs.stack.remove(self.log)


def warn(message: str, span: Span | None = None, key=None, note: bool = False) -> None:
    """Report a warning to whoever is collecting them. Library code calls
    this instead of printing. api.compile_script and the session always
    collect; a caller of lower layers that set up no collection gets them
    on stderr, once each, as before there were logs."""
    w = ScriptWarning(message, span, note=note)
    logs = _logs.stack
    (logs[-1] if logs else _STDERR).add(w, key)


def _to_stderr(w: ScriptWarning) -> None:
    import sys
    sys.stderr.write(w.format() + "\n")


_STDERR = WarningLog(forward=_to_stderr)
