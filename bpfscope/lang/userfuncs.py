"""User functions (``fn``) of a script, inlined where they are called (the
builtin functions are typed by their records in bpfscope.functions).

::

    fn clamp($v: int64, $hi: int64): int64 { if ($v > $hi) { return $hi; } return $v; }

A call ``clamp(x, 10)`` becomes an :class:`~bpfscope.lang.ast.InlineCall`
holding a fresh copy of the body: the parameters are variables set from the
arguments (each argument is evaluated once, before the body runs), and
``return v`` ends the call with the value v (sema checks it against the
declared return type; codegen jumps to the end of the copy). The body sees
only its parameters and its own variables, renamed here so that they never
meet the caller's, and the maps, which are global. Pasting the body rather
than emitting a BPF subprogram keeps codegen one function per probe and
lets a body use the probe's builtins. A function calling itself, directly
or not, is refused, as are calls with the wrong number of arguments and
chains of more than ``nesting.MAX_EXPANSION`` functions calling functions.
"""

from __future__ import annotations

import copy

from ..errors import SemanticError
from . import ast
from .nesting import (MAX_DEPTH, MAX_EXPANSION, body_height, check_height,
                      expansion_too_deep, program_too_deep)


class Inliner:
    def __init__(self, subprogs: list[ast.Subprog]):
        self.fns: dict[str, ast.Subprog] = {}
        for f in subprogs:
            if f.name in self.fns:
                raise SemanticError(f"Function {f.name} is already defined", f.span)
            seen = set()
            for name, _ in f.params:
                if name in seen:
                    raise SemanticError(f"Function {f.name} has two parameters named ${name}",
                                        f.span)
                seen.add(name)
            self.fns[f.name] = f
        self.stack: list[ast.Subprog] = []
        self.heights: dict[str, int] = {}  # of each function's body

    def expr(self, e: ast.Expr) -> ast.Expr:
        """``e`` with the calls below it replaced."""
        if self.stack and isinstance(e, ast.Variable):
            # the function's own variable: a name no script can write
            e.binding = f"{e.name}'fn {self.stack[-1].name}"
        ast.replace_exprs(e, self.expr)
        if isinstance(e, ast.Call) and e.name in self.fns:
            return self.inline(e, self.fns[e.name])
        return e

    # ------------------------------------------------------------ calls

    def inline(self, call: ast.Call, fn: ast.Subprog) -> ast.InlineCall:
        if fn in self.stack:
            chain = [f.name for f in self.stack[self.stack.index(fn):]] + [fn.name]
            raise SemanticError("Recursive function call detected. Call chain: "
                                + " > ".join(chain), call.span)
        if len(call.args) != len(fn.params):
            raise SemanticError(f"Function {fn.name} takes {len(fn.params)} argument"
                                f"{'' if len(fn.params) == 1 else 's'} "
                                f"({len(call.args)} provided)", call.span)
        if len(self.stack) >= MAX_EXPANSION:
            raise expansion_too_deep("Function calls",
                                     [f.name for f in self.stack] + [fn.name], call.span)
        # bodies pasted into bodies: keep the tree inlining walks shallow
        if fn.name not in self.heights:
            self.heights[fn.name] = body_height(fn.body)
        if sum(self.heights[f.name] for f in self.stack + [fn]) > MAX_DEPTH:
            raise program_too_deep(call.span)
        body = copy.deepcopy(fn.body)
        params = [(ast.Variable(ts.span, name), copy.deepcopy(ts)) for name, ts in fn.params]
        self.stack.append(fn)
        try:
            for var, _ in params:
                self.expr(var)
            for s in body:
                ast.replace_exprs(s, self.expr)
        finally:
            self.stack.pop()
        return ast.InlineCall(call.span, fn.name, call.args, params,
                              copy.deepcopy(fn.return_type), body)


def inline_functions(program: ast.Program) -> ast.Program:
    """Replace every call of a ``fn`` of ``program`` (in place)."""
    if not program.subprogs:
        return program
    inliner = Inliner(program.subprogs)
    for probe in program.probes:
        ast.replace_exprs(probe, inliner.expr)
    check_height(program)
    return program
