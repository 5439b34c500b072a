"""Pieces several families' records share."""

from __future__ import annotations

from ..codegen.loweringvalues import Int
from ..lang import ast


def lower_argument(lw, e: ast.Call) -> Int:
    """The integer argument itself: the type the check gave says how user
    space prints it (a symbol, an errno's text, a kernel pointer...)."""
    return lw.int_expr(e.args[0])
