"""Assembly: label resolution, encoding, and map fd relocation.

Jump offsets count 8-byte slots from the instruction after the jump, so an
LD_IMM64 in between counts twice; the load of a function's address (an
LD_IMM64 with src PSEUDO_FUNC) counts the same way, in its imm.  Map loads
are encoded with fd 0 and listed in ``map_relocations``;
``encode(map_fds)`` patches in real fds.

A program may hold several functions, one after another: the probe's own
code first, then the callbacks it passes to helpers. ``functions`` says
where each starts, its name and its arguments' names (the loader describes
them in BTF for the verifier).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bpfscope.codegen.disasm import disassemble
from bpfscope.codegen.insn import LD_IMM64, PSEUDO_FUNC, Insn, Label, encode, is_jump


class AssemblyError(ValueError):
    """A label was never placed or a jump does not fit its offset field."""


@dataclass
class Program:
    """An allocated, label-free program ready to load."""

    insns: list[Insn]
    stack_size: int = 0
    # (first slot, name, argument names) of each function; the first is main
    functions: list[tuple[int, str, tuple[str, ...]]] = field(
        default_factory=lambda: [(0, "main", ("ctx",))])
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
        """The instructions; with several functions each opens with a
        ``name:`` line and loads of a function's address name it."""
        if len(self.functions) == 1:
            return disassemble(self.insns)
        names = {start: name for start, name, _ in self.functions}
        lines = disassemble(self.insns, func_names=names).splitlines()
        out = []
        for line in lines:
            slot = int(line.split(":", 1)[0])
            if slot in names:
                out.append(f"{names[slot]}:")
            out.append(line)
        return "\n".join(out)


def is_func_load(ins: Insn) -> bool:
    return ins.code == LD_IMM64 and ins.src == PSEUDO_FUNC


def assemble(stream: list[Insn | Label], stack_size: int = 0,
             functions: list[tuple[Label, str, tuple[str, ...]]] | None = None) -> Program:
    """Resolve the labels in a stream of physical instructions; with
    ``functions``, (entry label, name, argument names) of each function
    in the stream."""
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
        if ins.target is not None and (is_jump(ins) or is_func_load(ins)):
            if ins.target.id not in where:
                raise AssemblyError(f"jump to label {ins.target!r} that was never placed")
            off = where[ins.target.id] - (slot + 1)
            if is_func_load(ins):
                ins = replace(ins, imm=off, target=None)
            else:
                if not -(1 << 15) <= off < (1 << 15):
                    raise AssemblyError(f"jump offset {off} does not fit in 16 bits")
                ins = replace(ins, off=off, target=None)
        out.append(ins)
        slot += ins.slots
    if not functions:
        return Program(out, stack_size)
    return Program(out, stack_size, [(where[lab.id], name, args) for lab, name, args in functions])


def session_program(entry: Program, ret: Program, is_return_id: int) -> Program | None:
    """One kprobe_session program from a kprobe's and a kretprobe's: a
    call of the kernel function bpf_session_is_return (BTF id
    ``is_return_id``) picks the body, the entry's first, the return's
    after it. The entry body returns 0, which keeps the return half armed.
    None when either holds callbacks (they would split the main function).

    Both bodies are label-free already, so their jumps, map loads and
    stack offsets stay as they are: only one of them runs per call."""
    if len(entry.functions) != 1 or len(ret.functions) != 1:
        return None
    from bpfscope.codegen import insn as I
    head = [
        Insn(I.ALU64 | I.X | I.MOV, I.R6, I.R1),      # the context, past the call
        Insn(I.JMP | I.CALL, 0, I.PSEUDO_KFUNC_CALL, 0, is_return_id),  # r1 = ctx too
        Insn(I.ALU64 | I.X | I.MOV, I.R1, I.R6),
        Insn(I.ALU64 | I.K | I.AND, I.R0, 0, 0, 0xFF),  # a bool: its low byte
        Insn(I.JMP | I.K | I.JNE, I.R0, 0, entry.slot_count, 0),
    ]
    return Program(head + list(entry.insns) + list(ret.insns),
                   max(entry.stack_size, ret.stack_size))
