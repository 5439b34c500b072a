"""Assembly: label resolution, encoding, and map fd relocation.

Jump offsets count 8-byte slots from the instruction after the jump, so an
LD_IMM64 in between counts twice.  Map loads are encoded with fd 0 and
listed in ``map_relocations``; ``encode(map_fds)`` patches in real fds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bpfscope.codegen.disasm import disassemble
from bpfscope.codegen.insn import Insn, Label, encode, is_jump


class AssemblyError(ValueError):
    """A label was never placed or a jump does not fit its offset field."""


@dataclass
class Program:
    """An allocated, label-free program ready to load."""

    insns: list[Insn]
    stack_size: int = 0
    map_relocations: list[tuple[int, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.map_relocations = []
        slot = 0
        for ins in self.insns:
            if ins.map_name is not None:
                self.map_relocations.append((slot, ins.map_name))
            slot += ins.slots

    @property
    def slot_count(self) -> int:
        return sum(i.slots for i in self.insns)

    def encode(self, map_fds: dict[str, int] | None = None) -> bytes:
        """The program bytes with each map load's imm set to its fd."""
        map_fds = map_fds or {}
        out = []
        for ins in self.insns:
            fd = 0
            if ins.map_name is not None:
                if map_fds and ins.map_name not in map_fds:
                    raise KeyError(f"no fd for map {ins.map_name!r}")
                fd = map_fds.get(ins.map_name, 0)
            out.append(encode(ins, fd))
        return b"".join(out)

    def bytes(self) -> bytes:
        return self.encode({})

    def disasm(self) -> str:
        return disassemble(self.insns)


def assemble(stream: list[Insn | Label], stack_size: int = 0) -> Program:
    """Resolve the labels in a stream of physical instructions."""
    where: dict[int, int] = {}
    slot = 0
    for item in stream:
        if isinstance(item, Label):
            where[item.id] = slot
        else:
            slot += item.slots
    out: list[Insn] = []
    slot = 0
    for item in stream:
        if isinstance(item, Label):
            continue
        ins = item
        if is_jump(ins) and ins.target is not None:
            if ins.target.id not in where:
                raise AssemblyError(f"jump to label {ins.target!r} that was never placed")
            off = where[ins.target.id] - (slot + 1)
            if not -(1 << 15) <= off < (1 << 15):
                raise AssemblyError(f"jump offset {off} does not fit in 16 bits")
            ins = replace(ins, off=off, target=None)
        out.append(ins)
        slot += ins.slots
    return Program(out, stack_size)
