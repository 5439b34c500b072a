"""bpfscope's standard library of macros: what bpftrace 0.26's standard
library (shipped inside its binary as bpftrace source) gives scripts that
bpfscope has no builtin or function for. Most of 0.26's library wraps
builtins (``macro comm() { __builtin_comm }``), which bpfscope has as
such (see the parser for ``comm()`` and ``__builtin_comm``).

The macros are written in the language itself and join each program's own
in macro expansion (lang/macros.py); a script's macro with the same name
and parameter kinds replaces the library's, as in 0.26.
"""

from __future__ import annotations

import dataclasses
import functools

from ..errors import Source
from . import ast

STDLIB = """\
// the pid of the parent process of task
macro ppid(task) {
  task->real_parent->pid
}

// the name of the process (its thread group leader's comm) of task
macro pcomm(task) {
  task->group_leader->comm
}

// the name of the current process
macro pcomm() {
  curtask->group_leader->comm
}
"""


@functools.cache
def stdlib_macros() -> tuple[ast.Macro, ...]:
    """The library's macros; their spans carry the library's Source, so an
    error inside one names and quotes it (as an import's code does)."""
    from .parser import parse
    src = Source(STDLIB, "stdlib/base.bt")
    prog = parse(src)
    for node in ast.walk(prog):
        node.span = dataclasses.replace(node.span, file=src)
    return tuple(prog.macros)
