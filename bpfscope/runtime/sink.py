"""The interface a session writes its user-visible output through.

The session never prints; it calls an :class:`OutputSink` (text, JSON, ...)
so that every output format sees the same events in the same order.
Implementations live in ``bpfscope.output``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bpfscope.runtime.values import MapData


@runtime_checkable
class OutputSink(Protocol):
    """What a running session reports, in the order it happens."""

    def attached(self, n_probes: int) -> None:
        """All probes are attached (bpftrace: ``Attached N probes``)."""

    # optional: progress(line), how far a long attach or detach is;
    # benchmark_results(results), bench mode's [(name, nanoseconds)]

    def printf(self, text: str) -> None:
        """Already formatted text from printf()/print of a value."""

    def map(self, data: MapData, top: int = 0, div: int = 1) -> None:
        """One map, as ``print(@m, top, div)`` prints it."""

    def maps_at_exit(self, maps: list[MapData]) -> None:
        """Every non-empty map when the program ends, in bpftrace's order."""

    def join(self, text: str) -> None:
        """join()'s strings, already joined."""
        ...

    def cat(self, text: str) -> None:
        """cat()'s file contents."""
        ...

    def value(self, v: object) -> None:
        """print() of one value that is not a map."""
        ...

    def lost_events(self, n: int) -> None:
        """``n`` events were dropped because the ring buffer was full."""

    def missed_events(self, probe: str, n: int, reason: str) -> None:
        """The kernel skipped ``n`` events of ``probe``: ``reason`` is
        'recursion' (its program was already running on that CPU) or
        'kprobe' (the kprobe itself missed them)."""

    def map_full(self, text: str, filename: str, line: int, col: int) -> None:
        """A map update at that place failed: the map is full (once per
        place; ``text`` is the warning laid out with the source line)."""

    def helper_failed(self, text: str, msg: str, helper: str, retcode: int,
                      filename: str, line: int, col: int) -> None:
        """-k: a helper call at that place failed (a map lookup or delete
        that found no element; once per place; ``text`` is the warning
        laid out with the source line)."""

    def dropped(self, kind: str, n: int, what: str, max_strlen: int, filename: str,
                line: int, col: int, end_col: int) -> None:
        """At exit, ``n`` drops of one place: ``kind`` 'stack' (stacks
        bpf_get_stack could not read) or 'strcut' (strings or buffers
        ``what`` cut at ``max_strlen``: str, join, buf, args.field)."""

    def stack_copies(self, n: int, lost: int, name: str, filename: str, line: int, col: int,
                     end_col: int) -> None:
        """At exit, with -v: ``n`` events of map ``name`` whose stacks got
        no stack id went to its map of copies (codegen.stackids), ``lost``
        of them dropped there because that map was full."""

    def time(self, text: str) -> None:
        """Text from time() (already strftime-formatted)."""

    def errorf(self, text: str, filename: str, line: int, col: int, end_col: int) -> None:
        """errorf() output: ``text`` at that place in the script."""

    def warnf(self, text: str, filename: str, line: int, col: int, end_col: int) -> None:
        """warnf() output (dropped under --no-warnings)."""

    def warning(self, msg: str) -> None:
        """A non-fatal problem (bpftrace's ``WARNING: ...``)."""

    def script_warning(self, w) -> None:
        """A :class:`~bpfscope.errors.ScriptWarning` from compiling,
        attaching or running the script (or a note, ``w.note``)."""

    def error(self, msg: str) -> None:
        """A fatal problem (bpftrace's ``ERROR: ...``)."""

    def flush(self) -> None:
        """Push buffered output to its destination."""
