"""Unreachable statements: bpftrace 0.26's warnings for code after a
statement that always leaves its block.

A ``return`` (or ``exit()``, which returns from the probe) ends a probe's
block; ``break`` and ``continue`` end a loop's body, and so does
``return`` in a ``while`` loop's (not in a ``for`` loop's, where 0.26
does not allow it); a loop itself may run no time, so it ends nothing. An ``if`` with an ``else`` ends its block when both
branches do; a block, an unroll and a block expression when their
statements do. The first statement after such a one is warned about
("Unreachable statement."), and a block expression's value after one
("Unreachable expression; block type is implicitly none."). Nothing is
removed: codegen drops what cannot run (codegen/deadcode.py).
"""

from __future__ import annotations

from ..errors import warn
from ..lang import ast

PROBE = frozenset({"return"})
FOR_BODY = frozenset({"break", "continue"})
WHILE_BODY = frozenset({"break", "continue", "return"})


def warn_unreachable(program: ast.Program) -> None:
    """Warn about each unreachable statement of ``program``'s probes."""
    for probe in program.probes:
        _block(probe.body, PROBE)


def _block(stmts: list[ast.Stmt], jumps: frozenset, value: ast.Expr | None = None) -> bool:
    """Check ``stmts`` (and a block expression's ``value``); whether they
    always end in one of ``jumps``."""
    for i, s in enumerate(stmts):
        _nested(s, jumps)
        if _ends(s, jumps):
            if i + 1 < len(stmts):
                warn("Unreachable statement.", stmts[i + 1].span)
            elif value is not None:
                warn("Unreachable expression; block type is implicitly none.", value.span)
            return True
    if value is not None:
        _expr(value, jumps)
    return False


def _nested(s: ast.Stmt, jumps: frozenset) -> None:
    """Check the blocks inside ``s`` (their verdicts are _ends's)."""
    if isinstance(s, ast.If):
        _block(s.then, jumps)
        if s.orelse:
            _block(s.orelse, jumps)
    elif isinstance(s, ast.Block):
        _block(s.stmts, jumps)
    elif isinstance(s, ast.Unroll):
        _block(s.body, jumps)
    elif isinstance(s, ast.While):
        _block(s.body, WHILE_BODY)
    elif isinstance(s, (ast.ForRange, ast.ForMap)):
        _block(s.body, FOR_BODY)
    elif isinstance(s, ast.ExprStmt):
        _expr(s.expr, jumps)
    elif isinstance(s, (ast.AssignVar, ast.AssignMap, ast.VarDecl)) and s.value is not None:
        _expr(s.value, jumps)


def _expr(e: ast.Expr, jumps: frozenset) -> None:
    # block expressions, also as the branches of an if used as a value
    if isinstance(e, ast.BlockExpr):
        _block(e.stmts, jumps, e.value)
    elif isinstance(e, ast.Ternary):
        _expr(e.then, jumps)
        _expr(e.orelse, jumps)


def _ends(s: ast.Stmt, jumps: frozenset) -> bool:
    """Does ``s`` always leave its block by one of ``jumps``?"""
    if isinstance(s, ast.Jump):
        return s.kind in jumps
    if isinstance(s, ast.ExprStmt):
        e = s.expr
        if isinstance(e, ast.Call) and e.name == "exit" and len(e.args) <= 1:
            return "return" in jumps
        return isinstance(e, ast.BlockExpr) and _all_end(e.stmts, jumps)
    if isinstance(s, ast.If):
        return bool(s.orelse) and _all_end(s.then, jumps) and _all_end(s.orelse, jumps)
    if isinstance(s, ast.Block):
        return _all_end(s.stmts, jumps)
    if isinstance(s, ast.Unroll):
        return _all_end(s.body, jumps)
    # a loop may not run at all (bpftrace 0.26 takes a while loop whose
    # body always returns for one that always does: it warns, bpfscope not)
    return False


def _all_end(stmts: list[ast.Stmt], jumps: frozenset) -> bool:
    return any(_ends(s, jumps) for s in stmts)
