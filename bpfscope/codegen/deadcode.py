"""Removing code no path reaches, and jumps to the next instruction.

The verifier rejects a program with unreachable instructions, and the
lowering produces them naturally: statements after exit() or return, the
jump over an else branch when the then branch ended in break/continue.
Reachability is a walk of the control-flow graph from the first
instruction; a jump whose target is the instruction right after it (labels
between do not count) is dropped as well.
"""

from __future__ import annotations

from . import insn as I
from .insn import Insn, Label
from .regalloc import successors


def remove_dead_code(code: list[Insn | Label]) -> list[Insn | Label]:
    while True:
        succ = successors(code)
        seen = [False] * len(code)
        todo = [0] if code else []
        while todo:
            i = todo.pop()
            if not seen[i]:
                seen[i] = True
                todo.extend(succ[i])
        kept = [item for i, item in enumerate(code)
                if seen[i] or isinstance(item, Label)]
        kept = _drop_jumps_to_next(kept)
        if len(kept) == len(code):
            return kept
        code = kept


def _drop_jumps_to_next(code: list[Insn | Label]) -> list[Insn | Label]:
    out = []
    for i, item in enumerate(code):
        if isinstance(item, Insn) and I.is_jump(item) and not I.is_call(item) \
                and not I.is_exit(item) and I.op_code(item.code) == I.JA:
            j = i + 1
            labels = set()
            while j < len(code) and isinstance(code[j], Label):
                labels.add(code[j].id)
                j += 1
            if item.target is not None and item.target.id in labels:
                continue
        out.append(item)
    return out
