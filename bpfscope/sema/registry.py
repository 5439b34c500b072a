"""The table of builtin functions: one :class:`Function` record per name.

A record says everything bpfscope knows about one function: how its
arguments are checked and what type the call has (``check``, run by the
analyser), and how it is lowered (``lower`` for a value in a register,
``store`` for a value written into memory, ``emit`` for a statement that
gives no value, all run by codegen). How the value decodes and prints is
the business of the type ``check`` returns (sema.types).

The records live in the family modules of :mod:`bpfscope.functions`, a
unit placed after codegen in the layer order, so a record's lowering may
use codegen while sema and codegen only ever see the record through this
table (the callables are opaque to them). Importing
:mod:`bpfscope.functions` registers every family; api.compile_script does
so, and so does tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Function:
    name: str
    # (analyzer, call) -> Type: checks the arguments (raising a located
    # SemanticError) and gives the type of the call
    check: Callable
    # (lowering, call) -> codegen Int: the value in a register
    lower: Callable | None = None
    # (lowering, call, dst Mem, type) -> None: writes a value held in memory
    store: Callable | None = None
    # (lowering, call) -> None: lowered as a statement; the call has no value
    emit: Callable | None = None


FUNCTIONS: dict[str, Function] = {}


def register(*records: Function) -> None:
    """Add records to the table; a name registered twice is a bug."""
    for f in records:
        if f.name in FUNCTIONS and FUNCTIONS[f.name] is not f:
            raise ValueError(f"function {f.name}() is registered twice")
        FUNCTIONS[f.name] = f


def unregister(name: str) -> None:
    """Remove a record (tests that register a toy function of their own)."""
    FUNCTIONS.pop(name, None)


def lookup(name: str) -> Function | None:
    return FUNCTIONS.get(name)
