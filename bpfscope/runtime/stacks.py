"""Stack values: kstack / ustack as map keys, map values and printf args.

A :class:`Stack` holds the raw addresses read from the BPF stack-trace map
(leaf first) and their frames already symbolized, and prints the way
bpftrace 0.26 prints a stack (``BPFtrace::get_stack``): the text starts
with a newline and every frame ends with one, so ``@[kstack]: 3`` prints as
``@[`` + stack + ``]: 3``::

    @[
            do_sys_openat2+136
            __x64_sys_openat+93
            do_syscall_64+113
    ]: 3

Modes (``kstack(perf)``, ``ustack(raw, 5)``, the ``stack_mode`` config):

``bpftrace``
    each frame on its own line after ``indent`` spaces (8; bpftrace 0.17
    used 4 in map keys, 0.26 uses 8 everywhere): ``name+off``, or
    ``0x...`` for an unknown address;
``perf``
    ``\\t<hex addr> <frame>`` per line, the address without ``0x``; user
    frames carry their file, ``func+off (/path)`` or ``0x... ([unknown])``;
    kernel frames do not (bpftrace never prints the kernel module);
``raw``
    ``<hex addr>`` per line, no indent, no symbols;
``build_id`` (user stacks)
    ``<build id in hex> 0x<offset>`` per line, no indent: the kernel names
    each frame by its file's build id and the offset into the file
    (``bpf_stack_build_id``), for symbolizing later elsewhere; a frame
    whose file has no build id the kernel could read is its ``<hex ip>``.

An empty stack prints as a single newline (bpftrace 0.26 prints the
opening newline for zero frames too).

Equality and hashing follow bpftrace's map keys: the kind, the mode, the
addresses and, for user stacks, the pid; two stacks that print the same but
came from different pids are different keys. ``sort_key`` is the text.

:func:`make_kernel_stack` / :func:`make_user_stack` build one from what the
map lookup returned: a list of integers or the raw bytes (little-endian
u64), ending at the first zero unless ``length`` is given.
"""

from __future__ import annotations

import struct
from typing import Iterable, Sequence

from ..ksyms import hex_address
from .values import Formatted

STACK_MODES = ("bpftrace", "perf", "raw", "build_id")
DEFAULT_INDENT = 8


class Stack(Formatted):
    """A symbolized kernel or user stack (leaf first)."""

    __slots__ = ("kind", "mode", "addrs", "frames", "pid", "indent", "_text",
                 "frame_addrs")

    def __init__(self, kind: str, addrs: Sequence[int], frames: Sequence[str],
                 mode: str = "bpftrace", pid: int | None = None,
                 indent: int = DEFAULT_INDENT,
                 frame_addrs: Sequence[int] | None = None):
        """frames: the lines printed, one per address unless frame_addrs
        gives each frame's address (an address inside inlined code stands
        for several frames: show_debug_info)."""
        if kind not in ("kernel", "user"):
            raise ValueError(f"unknown stack kind {kind!r}")
        if mode not in STACK_MODES:
            raise ValueError(f"unknown stack mode {mode!r}")
        if frame_addrs is None:
            frame_addrs = addrs
        if len(frames) != len(frame_addrs):
            raise ValueError("one frame per address")
        self.kind = kind
        self.mode = mode
        self.addrs = tuple(addrs)
        self.frames = list(frames)
        self.pid = pid if kind == "user" else None
        self.indent = indent
        self.frame_addrs = tuple(frame_addrs)
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = _layout(self.mode, self.addrs, self.frames,
                                 self.indent, self.frame_addrs)
        return self._text

    def with_indent(self, indent: int) -> "Stack":
        """The same stack printed with another indent (bpftrace mode)."""
        return Stack(self.kind, self.addrs, self.frames, self.mode, self.pid,
                     indent, self.frame_addrs)

    def __len__(self) -> int:
        return len(self.addrs)

    def _key(self) -> tuple:
        if self.mode == "build_id":  # offsets into different files
            return (self.kind, self.mode, self.pid, tuple(self.frames))
        return (self.kind, self.mode, self.pid, self.addrs)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Stack):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: "Stack") -> bool:
        return self.sort_key < other.sort_key

    def __repr__(self) -> str:
        pid = f", pid={self.pid}" if self.kind == "user" else ""
        return (f"Stack({self.kind!r}, {len(self.addrs)} frames, "
                f"mode={self.mode!r}{pid})")


def _layout(mode: str, addrs: Sequence[int], frames: Sequence[str],
            indent: int, frame_addrs: Sequence[int]) -> str:
    if mode == "bpftrace":
        pad = " " * indent
        body = "".join(f"{pad}{f}\n" for f in frames)
    elif mode == "perf":
        body = "".join(f"\t{a:x} {f}\n" for a, f in zip(frame_addrs, frames))
    elif mode == "build_id":
        body = "".join(f"{f}\n" for f in frames)
    else:
        body = "".join(f"{a:x}\n" for a in addrs)
    return "\n" + body


def stack_addresses(raw: bytes | bytearray | memoryview | Iterable[int],
                    length: int | None = None,
                    limit: int | None = None) -> list[int]:
    """The frame addresses in raw (u64 little-endian bytes or ints): the
    first length of them, else up to the first zero; at most limit."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        n = len(data) // 8
        vals = list(struct.unpack_from(f"<{n}Q", data)) if n else []
    else:
        vals = [int(a) & 0xFFFFFFFFFFFFFFFF for a in raw]
    if length is not None:
        vals = vals[:max(length, 0)]
    else:
        try:
            vals = vals[:vals.index(0)]
        except ValueError:
            pass
    if limit is not None:
        vals = vals[:max(limit, 0)]
    return vals


def make_kernel_stack(addrs, ksyms, mode: str = "bpftrace",
                      length: int | None = None, limit: int | None = None,
                      indent: int = DEFAULT_INDENT) -> Stack:
    """A kernel Stack from raw addresses; ksyms is a KernelSymbols (or
    None: every frame prints as hex)."""
    vals = stack_addresses(addrs, length, limit)
    if mode == "raw":
        frames = [f"{a:x}" for a in vals]
    elif ksyms is None:
        frames = [hex_address(a) for a in vals]
    else:
        fmt = ksyms.format
        frames = [fmt(a) for a in vals]
    return Stack("kernel", vals, frames, mode, None, indent)


def make_user_stack(pid: int, addrs, usyms, mode: str = "bpftrace",
                    length: int | None = None, limit: int | None = None,
                    demangle: bool | None = None,
                    indent: int = DEFAULT_INDENT,
                    debug_info: bool = False) -> Stack:
    """A user Stack of process pid from raw addresses; usyms is a
    UserSymbols (or None: every frame prints as hex). debug_info
    (``show_debug_info``): frames with their source lines and inlined
    calls, where the files have debug info."""
    vals = stack_addresses(addrs, length, limit)
    perf = mode == "perf"
    if mode != "raw" and usyms is not None and debug_info:
        frames, where = [], []
        for i, a in enumerate(vals):
            got = usyms.format_frames(pid, a, perf, demangle, return_address=i > 0)
            frames += got
            where += [a] * len(got)
        return Stack("user", vals, frames, mode, pid, indent, where)
    if mode == "raw":
        frames = [f"{a:x}" for a in vals]
    elif usyms is None:
        frames = [hex_address(a) + (" ([unknown])" if perf else "")
                  for a in vals]
    else:
        frames = [usyms.format(pid, a, show_offset=True, show_module=perf,
                               demangle=demangle) for a in vals]
    return Stack("user", vals, frames, mode, pid, indent)


BUILD_ID_VALID = 1  # bpf_stack_build_id.status: the build id was read
_BUILD_ID = struct.Struct("<i20sQ")


def make_build_id_stack(pid: int, raw: bytes) -> Stack:
    """A build_id-mode user Stack from the kernel's ``bpf_stack_build_id``
    entries (32 bytes each: status, the 20-byte build id, the offset or,
    when the build id could not be read, the ip), as bpftrace 0.26 prints
    them: ``<build id> 0x<offset>``, or the ip in hex."""
    addrs, frames = [], []
    for i in range(len(raw) // _BUILD_ID.size):
        status, bid, val = _BUILD_ID.unpack_from(raw, i * _BUILD_ID.size)
        addrs.append(val)
        if status == BUILD_ID_VALID:
            frames.append(f"{bid.hex()} 0x{val:02x}")
        else:
            frames.append(f"{val:x}")
    return Stack("user", addrs, frames, "build_id", pid)
