"""The values the lowering passes around: integers in registers and byte
buffers in memory, and constants the lowering mixins share."""

from __future__ import annotations

from dataclasses import dataclass

from .insn import VReg

BPF_ANY = 0


@dataclass
class Int:
    reg: VReg


@dataclass
class Mem:
    """``size`` bytes at ``base + off``; base is R10 or a pointer vreg."""
    base: object
    off: int
    size: int

    def at(self, delta: int, size: int) -> "Mem":
        return Mem(self.base, self.off + delta, size)


@dataclass
class Remote:
    """``size`` bytes at the kernel (or, with ``user``, user-space) address
    ``addr + off``: readable only through bpf_probe_read_*."""
    addr: VReg
    off: int
    size: int
    user: bool = False

    def at(self, delta: int, size: int) -> "Remote":
        return Remote(self.addr, self.off + delta, size, self.user)
