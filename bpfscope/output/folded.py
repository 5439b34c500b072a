"""Stack samples and the folded stack format.

Every flame graph output (folded text, SVG, speedscope, pprof) takes the same
plain input: an iterable of **samples**, each ``(frames, count)`` where
``frames`` is a list of frame names **root first** (the outermost caller at
index 0, the function that was running last) and ``count`` a positive int.
Nothing here depends on how the runtime represents a stack.

:func:`samples_from_map` builds samples from a map read back from the
kernel, such as ``@[kstack, ustack, comm] = count()``.  A key part that has a
``frames`` attribute (a list of frame strings, leaf first, the order in which
bpftrace prints ``kstack``/``ustack``) is a stack, and so is a ``Formatted``
value whose text spans several lines (a stack already rendered as bpftrace
prints it, one frame a line); every other key part is a single frame.
The frames of one entry are, root first:

1. the non-stack key parts, in key order (``comm``, ``pid``, ...): they
   group the stacks below them, so a flame graph splits by process first;
2. the stacks, in *reverse* key order, each reversed to root first.
   bpftrace scripts write the innermost stack first (``kstack, ustack``):
   user code calls into the kernel, so the user stack is the caller and
   sits nearer the root.  ``stack_order="key"`` keeps key order instead.

So ``@[kstack, ustack, comm]`` gives
``[comm] + reversed(ustack) + reversed(kstack)``.

The folded format (one line per distinct stack, ``root;child;leaf count``)
is the input of Brendan Gregg's flame graph tools and of many viewers.
Lines are sorted by stack and identical stacks merged.  A frame name
cannot hold the separator or a line break, so :func:`sanitize_frame`
writes ``;`` as ``\\x3b`` and control characters as ``\\n``, ``\\t``,
``\\xNN``: readable, one line per stack, and every tool splits the stack
where it should.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from bpfscope.runtime.values import Formatted, MapData

Sample = tuple[list[str], int]

#: Frame used for a sample whose stack is empty (e.g. ``kstack`` taken in
#: user context): the sample still counts and stays visible.
EMPTY_STACK = "[unknown]"

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", ";": "\\x3b"}


def sanitize_frame(name: str) -> str:
    """``name`` with ``;`` and control characters escaped (see module doc)."""
    if name.isprintable() and ";" not in name:
        return name
    out = []
    for ch in name:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _frame_text(part: object) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Formatted):
        return part.text
    from bpfscope.output.text import format_value
    return format_value(part)


def _stack_frames(part: object) -> list | None:
    """Frames (leaf first) if ``part`` is a stack, else None."""
    if isinstance(part, (str, int, tuple)):
        return None
    frames = getattr(part, "frames", None)
    if isinstance(frames, (list, tuple)):
        return list(frames)
    if isinstance(part, Formatted) and "\n" in part.text:
        # A stack already rendered as bpftrace prints it (one frame a line).
        return [line.strip() for line in part.text.splitlines() if line.strip()]
    return None


def _weight(data: MapData, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"map {data.name} holds {data.kind} values: a flame graph needs "
            f"integer values such as count() or sum()")
    return value


def samples_from_map(data: MapData, stack_order: str = "reverse") -> list[Sample]:
    """Samples (root first) from a map whose keys hold stacks.

    ``stack_order`` is ``"reverse"`` (default: last stack in the key is
    nearest the root, right for ``kstack, ustack``) or ``"key"``.
    Entries with a count of zero or less are left out.
    """
    if stack_order not in ("reverse", "key"):
        raise ValueError(f"stack_order must be 'reverse' or 'key', not {stack_order!r}")
    samples: list[Sample] = []
    for key, value in data.entries:
        count = _weight(data, value)
        if count <= 0:
            continue
        parts = key if isinstance(key, tuple) else (key,)
        found = [(p, _stack_frames(p)) for p in parts]
        frames = [_frame_text(p) for p, st in found if st is None]
        stacks = [st for p, st in found if st is not None]
        if stack_order == "reverse":
            stacks.reverse()
        for st in stacks:
            frames.extend(_frame_text(f) for f in reversed(st))
        samples.append((frames, count))
    return samples


def merge_samples(samples: Iterable[Sample]) -> list[tuple[tuple[str, ...], int]]:
    """Identical stacks summed, sorted by stack; counts <= 0 dropped, an
    empty stack becomes ``[EMPTY_STACK]``."""
    totals: dict[tuple[str, ...], int] = {}
    for frames, count in samples:
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"sample count must be an int, not {type(count).__name__}")
        if count <= 0:
            continue
        stack = tuple(str(f) for f in frames) or (EMPTY_STACK,)
        totals[stack] = totals.get(stack, 0) + count
    return sorted(totals.items())


def format_folded(samples: Iterable[Sample]) -> str:
    """Folded stack text: ``root;child;leaf count`` lines, sorted."""
    lines: dict[str, int] = {}
    for stack, count in merge_samples(samples):
        # Sanitising can make two stacks equal; merge them again.
        text = ";".join(sanitize_frame(f) for f in stack)
        lines[text] = lines.get(text, 0) + count
    return "".join(f"{text} {count}\n" for text, count in sorted(lines.items()))


def write_folded(samples: Iterable[Sample], out: TextIO) -> None:
    out.write(format_folded(samples))


def parse_folded(text: str) -> list[Sample]:
    """Samples from folded text (the inverse of :func:`format_folded`, up
    to escaping).  Blank lines are skipped; a malformed line raises
    ``ValueError`` naming its line number."""
    samples: list[Sample] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        stack, sep, count = line.rpartition(" ")
        try:
            value = int(count)
        except ValueError:
            value = None
        if not sep or value is None or not stack:
            raise ValueError(f"line {n}: expected 'frame;frame;... count', got {line!r}")
        samples.append((stack.split(";"), value))
    return samples
