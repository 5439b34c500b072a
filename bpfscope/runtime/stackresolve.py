"""Stack ids from the kernel -> runtime.stacks.Stack values.

A kstack/ustack value in a map key, map value or event record is an id
into a BPF stack-trace map (plus, for user stacks, the pid). The resolver
reads the frames from that map and symbolizes them, loading the kernel's
and a process's symbols only when a stack first needs them. Resolved
stacks are cached by id: the same id always names the same frames while
the map holds them.
"""

from __future__ import annotations

from ..sema.types import StackType
from .ksyms import kernel_symbols
from .stacks import Stack, make_kernel_stack, make_user_stack
from .usyms import user_symbols


class StackResolver:
    def __init__(self, stack_maps: dict, demangle: bool = True):
        self.maps = stack_maps          # 'kernel'/'user' -> BpfMap
        self.demangle = demangle
        self._cache: dict[tuple, Stack] = {}
        self._ksyms = None

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
        if "user" in self.maps:
            usyms = user_symbols()
            usyms.forget(pid)  # it may have exec'd: read it afresh
            usyms.preload(pid)

    def stack(self, t: StackType, sid: int, pid: int = 0) -> Stack:
        key = (t.kind, t.mode, t.limit, sid, pid)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        raw = self.maps[t.kind].lookup(sid.to_bytes(4, "little")) if sid >= 0 else None
        addrs = raw or b""
        if t.kind == "kernel":
            st = make_kernel_stack(addrs, self.ksyms(), t.mode, limit=t.limit)
        else:
            st = make_user_stack(pid, addrs, user_symbols(), t.mode, limit=t.limit,
                                 demangle=self.demangle)
        self._cache[key] = st
        return st
