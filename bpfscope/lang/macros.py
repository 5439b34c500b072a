"""Macro expansion: the pass between parsing and sema that replaces each
call of a bpftrace macro by the macro's body, on the AST.

A macro's parameters say what a call must pass::

    macro add($a, @m, x) { ... }

``$a`` takes a scratch variable (the body's ``$a`` *is* the caller's
variable, so the macro may assign it), ``@m`` a map (likewise), and ``x``
any expression, pasted wherever the body says ``x`` (a variable or map
passed there is wrapped in a block so it cannot be assigned). Macros are
hygienic: the body sees no map it was not given (an error), and its own
variables are renamed so that they never meet the caller's (a block scope
of their own keeps two expansions apart too). A macro whose body ends in an
expression expands to a block expression and can be used as a value; one
whose body is only statements expands to a block and can only stand as a
statement. A macro with no parameters may be called without parentheses.
Several macros may share a name when their parameter kinds differ; a call
takes the one whose kinds match its arguments. Recursion is refused, and so
are chains of more than ``nesting.MAX_EXPANSION`` macros expanding macros.

Expanded code keeps the spans it was written with: an error inside a
macro's body points into the body, one in an argument at the call.
"""

from __future__ import annotations

import copy

from ..errors import SemanticError
from . import ast
from .stdlib import stdlib_macros
from .nesting import (MAX_DEPTH, MAX_EXPANSION, body_height, check_height,
                      expansion_too_deep, program_too_deep)


def _kind(param: str) -> str:
    return "var" if param.startswith("$") else "map" if param.startswith("@") else "expr"


def _arg_kind(arg: ast.Expr) -> str:
    if isinstance(arg, ast.Variable):
        return "var"
    if isinstance(arg, ast.Map) and not arg.keys and not arg.has_brackets:
        return "map"
    return "expr"


def _accepts(macro: ast.Macro, kinds: list[str], strict=False) -> bool:
    """Can ``macro`` take arguments of these kinds? An expression parameter
    takes anything; a variable parameter a variable or, as in 0.26, any
    expression but a bare map; a map parameter only a map."""
    return len(kinds) == len(macro.params) and all(
        _kind(p) in ("expr", k) or (not strict and (_kind(p), k) == ("var", "expr"))
        for p, k in zip(macro.params, kinds))


def _mismatch(macro: ast.Macro, kinds: list[str]) -> int:
    """How far a call is from ``macro``: a wrong count outweighs kinds."""
    n = 1024 * abs(len(kinds) - len(macro.params))
    return n + sum(1 for p, k in zip(macro.params, kinds) if _kind(p) not in ("expr", k))


def _may_call(e: ast.Expr) -> bool:
    """Could ``e`` be a call of a macro? A call, a bare name, or a builtin's
    name (a script's own ``macro comm() {...}`` replaces bpftrace's, as in
    0.26, whose comm is a macro of its standard library), but not one
    written ``__builtin_NAME``."""
    return isinstance(e, (ast.Call, ast.Identifier)) or (
        isinstance(e, ast.Builtin) and not e.raw)


_KIND_WORDS = {"var": "a variable", "map": "a map", "expr": "an expression"}


class MacroTable:
    """The macros of a program by name, checked."""

    def __init__(self, macros: list[ast.Macro], library=()):
        self.by_name: dict[str, list[ast.Macro]] = {}
        for m in macros:
            seen = set()
            for p in m.params:
                if p in seen:
                    what = {"var": "Variable", "map": "Map", "expr": "Argument"}[_kind(p)]
                    raise SemanticError(f"{what} for macro argument has already been used: {p}",
                                        m.span)
                seen.add(p)
            kinds = [_kind(p) for p in m.params]
            for old in self.by_name.get(m.name, ()):
                if _accepts(old, kinds, strict=True):
                    raise SemanticError(f"Redefinition of macro: {m.name}", m.span)
            self.by_name.setdefault(m.name, []).append(m)
        for m in library:
            # the library's macros, where the script has none of that
            # name taking the same kinds of arguments
            kinds = [_kind(p) for p in m.params]
            if not any(_accepts(old, kinds, strict=True) for old in self.by_name.get(m.name, ())):
                self.by_name.setdefault(m.name, []).append(m)

    def lookup(self, name: str, args: list[ast.Expr], site: ast.Expr) -> ast.Macro | None:
        """The macro a call means, None when no macro has that name."""
        cands = self.by_name.get(name)
        if not cands:
            return None
        kinds = [_arg_kind(a) for a in args]
        # an overload of the very kinds first: f(x) before f($x) for an expression
        for strict in (True, False):
            for m in cands:
                if _accepts(m, kinds, strict):
                    return m
        best = min(cands, key=lambda m: _mismatch(m, kinds))
        if len(best.params) != len(args):
            raise SemanticError(f"Call to {name}() has the wrong number of arguments. "
                                f"Expected: {len(best.params)} but got {len(args)}", site.span)
        for p, a, k in zip(best.params, args, kinds):
            if _kind(p) not in ("expr", k):
                raise SemanticError(f"Mismatched arg. {name}() expects {_KIND_WORDS[_kind(p)]} "
                                    f"for arg {p} but got {_KIND_WORDS[k]}.", a.span)
        raise AssertionError("unreachable")


class _Expansion:
    """What the body of one macro call sees: its arguments by parameter."""

    def __init__(self, macro: ast.Macro, args: list[ast.Expr], height: int):
        self.macro = macro
        self.height = height  # of the macro's body
        self.vars: dict[str, ast.Variable] = {}
        self.maps: dict[str, str] = {}
        self.exprs: dict[str, ast.Expr] = {}
        self.pasted: dict[str, ast.Expr] = {}
        for p, a in zip(macro.params, args):
            k = _kind(p)
            if k == "var" and isinstance(a, ast.Variable):
                self.vars[p[1:]] = a
            elif k == "var":
                # an expression for a $param is pasted at each use, as 0.26 does
                self.pasted[p[1:]] = a
            elif k == "map":
                self.maps[p[1:]] = a.name
            elif isinstance(a, (ast.Variable, ast.Map)):
                self.exprs[p] = ast.BlockExpr(a.span, [], a)
            else:
                self.exprs[p] = a


class Expander:
    def __init__(self, table: MacroTable):
        self.table = table
        self.stack: list[_Expansion] = []

    @property
    def inside(self) -> _Expansion | None:
        return self.stack[-1] if self.stack else None

    # ------------------------------------------------------------ statements

    def stmts(self, stmts: list[ast.Stmt]) -> list[ast.Stmt]:
        return [self.stmt(s) for s in stmts]

    def stmt(self, s: ast.Stmt) -> ast.Stmt:
        if isinstance(s, ast.ExprStmt) and _may_call(s.expr) and not s.discard:
            body = self.call(s.expr, statement=True)
            if body is not None:
                return body
        if isinstance(s, ast.VarDecl) and self.inside and s.var.name in self.inside.vars:
            raise SemanticError(f"Variable declaration shadows macro arg ${s.var.name}", s.span)
        self.fields(s)
        return s

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr) -> ast.Expr:
        inside = self.inside
        if isinstance(e, ast.Identifier) and inside and e.name in inside.exprs:
            # already expanded where the caller wrote it: pasted as it is
            return copy.deepcopy(inside.exprs[e.name])
        if isinstance(e, ast.Variable) and inside and e.name in inside.pasted:
            return copy.deepcopy(inside.pasted[e.name])
        if _may_call(e):
            body = self.call(e, statement=False)
            if body is not None:
                return body
        if isinstance(e, ast.Variable) and inside:
            self.variable(e, inside)
        elif isinstance(e, ast.Map) and inside:
            if e.name not in inside.maps:
                raise SemanticError(f"Unhygienic access to map: {e.ident}. Maps must be "
                                    "passed into the macro as arguments.", e.span)
            e.name = inside.maps[e.name]
        self.fields(e)
        return e

    def variable(self, v: ast.Variable, inside: _Expansion):
        caller = inside.vars.get(v.name)
        if caller is not None:
            v.name, v.binding = caller.name, caller.binding
        else:
            # the macro's own variable: a name no script can write
            v.binding = f"{v.binding or v.name}'{inside.macro.name}"

    def fields(self, node: ast.Node):
        """Expand inside every child of ``node``, replacing them in place."""
        for name in ast.syntax_fields(node):
            val = getattr(node, name)
            if isinstance(val, ast.Expr):
                setattr(node, name, self.expr(val))
            elif isinstance(val, ast.Stmt):
                setattr(node, name, self.stmt(val))
            elif isinstance(val, list):
                setattr(node, name, [self.child(x) for x in val])

    def child(self, x):
        if isinstance(x, ast.Expr):
            return self.expr(x)
        if isinstance(x, ast.Stmt):
            return self.stmt(x)
        if isinstance(x, tuple):  # a record field: (name, expr)
            return tuple(self.child(y) for y in x)
        if isinstance(x, ast.Node):
            self.fields(x)
        return x

    # ------------------------------------------------------------ calls

    def call(self, site: ast.Expr, statement: bool):
        """The expansion of a macro call (a Block in statement position, a
        BlockExpr elsewhere), or None when ``site`` calls no macro."""
        name = site.name
        args = site.args if isinstance(site, ast.Call) else []
        if name not in self.table.by_name:
            return None
        if isinstance(site, ast.Builtin) and all(m.params for m in self.table.by_name[name]):
            return None  # `ppid`: the builtin, `ppid(curtask)` the macro
        args = [self.expr(a) for a in args]
        if isinstance(site, ast.Call):
            site.args = args
        macro = self.table.lookup(name, args, site)
        chain = [x.macro.name for x in self.stack]
        if any(x.macro is macro for x in self.stack):
            start = next(i for i, x in enumerate(self.stack) if x.macro is macro)
            raise SemanticError("Recursive macro call detected. Call chain: "
                                + " > ".join(chain[start:] + [name]), site.span)
        if isinstance(macro.body, list):
            stmts, value = macro.body, None
            if not statement:
                raise SemanticError(
                    f"Macro '{name}' expanded to a block instead of a block expression. "
                    "Try removing the semicolon from the end of the last statement in "
                    "the macro body.", site.span)
        else:
            stmts, value = macro.body.stmts, macro.body.value
        if len(self.stack) >= MAX_EXPANSION:
            raise expansion_too_deep("Macro calls", chain + [name], site.span)
        # bodies pasted into bodies: keep the tree the expansion walks shallow
        height = body_height(macro.body)
        if height + sum(x.height for x in self.stack) > MAX_DEPTH:
            raise program_too_deep(site.span)
        stmts, value = copy.deepcopy((stmts, value))
        self.stack.append(_Expansion(macro, args, height))
        try:
            stmts = self.stmts(stmts)
            if value is not None:
                value = self.expr(value)
        finally:
            self.stack.pop()
        if statement:
            if value is not None:
                stmts.append(ast.ExprStmt(value.span, value))
            return ast.Block(site.span, stmts)
        return ast.BlockExpr(site.span, stmts, value)


def expand_macros(program: ast.Program) -> ast.Program:
    """Replace every macro call in ``program`` (in place); raises
    SemanticError at the first misuse."""
    ex = Expander(MacroTable(program.macros, stdlib_macros()))
    for probe in program.probes:
        if probe.predicate is not None:
            probe.predicate = ex.expr(probe.predicate)
        probe.body = ex.stmts(probe.body)
    for sub in program.subprogs:
        sub.body = ex.stmts(sub.body)
    check_height(program)
    return program
