"""kstack/ustack values from the kernel -> runtime.stacks.Stack values.

A kstack/ustack value in a map key, map value or event record holds its
frames (and, for user stacks, the pid: see sema.types.StackType), or in
the key of a map with stack ids (codegen.stackids) an id whose frames
the stack-trace map has. The resolver symbolizes them, loading the
kernel's and a process's symbols only when a stack first needs them.
Resolved stacks are cached by their frames and pid, ids by the frames
they stand for.
"""

from __future__ import annotations

from ..codegen.stackids import stack_map_name
from ..ksyms import kernel_symbols
from ..sema.types import StackType
from .stackids import frames_of
from .stacks import Stack, make_build_id_stack, make_kernel_stack, make_user_stack
from .usyms import user_symbols


class StackResolver:
    """``user``: the script takes user addresses (ustack, usym), so
    processes' mappings are read while they run."""

    def __init__(self, user: bool = False, demangle: bool = True,
                 debug_info: bool = True):
        self.user = user
        self.demangle = demangle
        self.debug_info = debug_info  # show_debug_info
        self._cache: dict[tuple, Stack] = {}
        self._ksyms = None
        # the session's stack-trace maps by name, and what their ids hold
        self.stack_maps: dict[str, object] = {}
        self._frames: dict[tuple, bytes] = {}

    def ksyms(self):
        if self._ksyms is None:
            try:
                self._ksyms = kernel_symbols()
            except OSError:
                self._ksyms = False  # frames print as addresses
        return self._ksyms or None

    def note_pid(self, pid: int):
        """Read a process's mappings while it runs, so that its stacks still
        resolve after it exits."""
        if self.user:
            usyms = user_symbols()
            usyms.forget(pid)  # it may have exec'd: read it afresh
            usyms.preload(pid)

    def stack(self, t: StackType, frames: bytes, pid: int = 0) -> Stack:
        """The stack of ``frames`` (little-endian u64 addresses, leaf first)."""
        key = (t.kind, t.mode, t.limit, frames, pid)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if t.mode == "build_id":
            st = make_build_id_stack(pid, frames)
        elif t.kind == "kernel":
            st = make_kernel_stack(frames, self.ksyms(), t.mode, len(frames) // 8)
        else:
            st = make_user_stack(pid, frames, user_symbols(), t.mode, len(frames) // 8,
                                 demangle=self.demangle, debug_info=self.debug_info)
        self._cache[key] = st
        return st

    def stack_by_id(self, t: StackType, sid: int, pid: int = 0) -> Stack:
        """The stack of id ``sid`` in the stack-trace map of ``t``; a
        negative id (no frames: a kernel thread's user stack) is the
        empty stack."""
        name = stack_map_name(t)
        frames = self._frames.get((name, sid))
        if frames is None:
            stack_map = self.stack_maps.get(name)
            frames = b"" if sid < 0 or stack_map is None else frames_of(stack_map, sid, t.elem)
            self._frames[(name, sid)] = frames
        return self.stack(t, frames, pid)
