"""The values the lowering passes around: integers in registers and byte
buffers in memory, and constants the lowering mixins share."""

from __future__ import annotations

from dataclasses import dataclass

from .insn import VReg

BPF_ANY = 0
USER_PROVIDERS = {"uprobe", "uretprobe", "usdt"}


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
