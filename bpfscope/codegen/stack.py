"""The BPF stack frame: its 512-byte limit and the error for exceeding it.

The frame holds the Builder's regions (variables, buffers) at the top, just
below r10, followed by the register allocator's 8-byte spill slots.
"""

from __future__ import annotations

from bpfscope.errors import BpfscopeError

MAX_STACK = 512


class StackOverflow(BpfscopeError, ValueError):
    """The program needs more than the kernel's 512 bytes of stack."""


def align_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align
