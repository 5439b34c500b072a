"""Block scopes of scratch variables, as bpftrace 0.26 has them.

Every ``{ }`` is a scope: a probe's body, the branches of an if, loop
bodies, nested blocks, block expressions and inlined function bodies. A variable belongs to the
outermost enclosing scope whose own statements assign or declare it (before
or after the use), so in ``$a = 1; if (c) { $a = 2; }`` both are one
variable, while a variable only assigned inside a branch does not exist
after it. ``let`` may not declare a name an enclosing scope has already
declared (no shadowing), nor one already assigned before it; a for loop's
variable is the loop's own and may not reuse a name already in use.

Resolution gives each distinct variable its own ``Variable.binding`` (the
name itself for the first of that name in a probe), so the analyser and the
code generator, which key variables on ``Variable.key``, need not know
about scopes at all. It runs once per probe, before typing.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..lang import ast

# A binding for a name no enclosing scope owns: the analyser reports it as
# an undefined variable when it is read.
UNBOUND = "?"


def _ident(v: ast.Variable) -> str:
    # Macro expansion may already have set a hygienic binding.
    return v.binding or v.name


def _owned(stmts: list[ast.Stmt]) -> set[str]:
    """Names assigned or declared by the statements of one block itself."""
    out = set()
    for s in stmts:
        if isinstance(s, (ast.AssignVar, ast.VarDecl)):
            out.add(_ident(s.var))
    return out


class _Scope:
    def __init__(self, owned: set[str]):
        self.owned = owned
        self.bindings: dict[str, str] = {}
        # In program order, as bpftrace's first pass sees them: names this
        # scope has seen assigned or declared so far, and declared so far.
        self.seen: set[str] = set()
        self.declared: set[str] = set()
        # The variable a for loop declares: inside its body the name means
        # it, even when an enclosing block assigns the same name later.
        self.loop_var: str | None = None


class _Resolver:
    def __init__(self):
        self.stack: list[_Scope] = []
        self.count: dict[str, int] = {}

    def binding(self, scope: _Scope, ident: str) -> str:
        b = scope.bindings.get(ident)
        if b is None:
            n = self.count.get(ident, 0)
            self.count[ident] = n + 1
            b = scope.bindings[ident] = ident if n == 0 else f"{ident}#{n}"
        return b

    def bind(self, v: ast.Variable):
        ident = _ident(v)
        for scope in reversed(self.stack):
            if scope.loop_var == ident:
                v.binding = self.binding(scope, ident)
                return
        for scope in self.stack:
            if ident in scope.owned:
                v.binding = self.binding(scope, ident)
                return
        v.binding = ident + UNBOUND

    # ------------------------------------------------------------ walking

    def scoped(self, stmts: list[ast.Stmt], extra: ast.Variable | None = None,
               value: ast.Expr | None = None):
        scope = _Scope(_owned(stmts))
        if extra is not None:
            ident = _ident(extra)
            if any(ident in s.seen for s in self.stack):
                raise SemanticError(f"Loop declaration shadows existing variable: "
                                    f"${extra.name}", extra.span)
            scope.owned.add(ident)
            scope.loop_var = ident
        self.stack.append(scope)
        if extra is not None:
            self.declare(extra, None)
        for s in stmts:
            self.stmt(s)
        if value is not None:
            self.expr(value)
        self.stack.pop()

    def declare(self, v: ast.Variable, decl: ast.VarDecl | None):
        ident = _ident(v)
        if decl is not None:
            if any(ident in s.declared for s in self.stack):
                raise SemanticError(f"Variable ${v.name} was already declared. "
                                    "Variable shadowing is not allowed.", decl.span)
            if any(ident in s.seen for s in self.stack):
                raise SemanticError("Variable declarations need to occur before variable "
                                    f"usage or assignment. Variable: ${v.name}", decl.span)
            self.stack[-1].declared.add(ident)
        self.stack[-1].seen.add(ident)
        self.bind(v)

    def assigned(self, v: ast.Variable):
        ident = _ident(v)
        if not any(ident in s.seen for s in self.stack):
            self.stack[-1].seen.add(ident)
        self.bind(v)

    def stmt(self, s: ast.Stmt):
        if isinstance(s, ast.VarDecl):
            if s.value is not None:
                self.expr(s.value)
            self.declare(s.var, s)
        elif isinstance(s, ast.AssignVar):
            self.expr(s.value)
            self.assigned(s.var)
        elif isinstance(s, ast.If):
            self.expr(s.cond)
            self.scoped(s.then)
            if s.orelse:
                self.scoped(s.orelse)
        elif isinstance(s, (ast.While, ast.Unroll)):
            self.expr(s.cond if isinstance(s, ast.While) else s.count)
            self.scoped(s.body)
        elif isinstance(s, ast.ForRange):
            self.expr(s.start)
            self.expr(s.end)
            self.scoped(s.body, extra=s.var)
        elif isinstance(s, ast.ForMap):
            self.expr(s.map)
            self.scoped(s.body, extra=s.var)
        elif isinstance(s, ast.Block):
            self.scoped(s.stmts)
        else:
            self.expr(s)

    def expr(self, node):
        """Bind the variables of an expression (or of a statement's
        expressions); block expressions open scopes of their own."""
        if isinstance(node, ast.BlockExpr):
            self.scoped(node.stmts, value=node.value)
        elif isinstance(node, ast.InlineCall):
            # arguments belong to the caller; the body is a scope of its own
            # whose parameters are declared on entry
            self.expr(node.args)
            params = [v for v, _ in node.params]
            scope = _Scope(_owned(node.body) | {_ident(v) for v in params})
            self.stack.append(scope)
            for v in params:
                self.declare(v, None)
            for s in node.body:
                self.stmt(s)
            self.stack.pop()
        elif isinstance(node, ast.Variable):
            self.bind(node)
        elif isinstance(node, ast.Node):
            for name in ast.syntax_fields(node):
                self.expr(getattr(node, name))
        elif isinstance(node, (list, tuple)):
            for item in node:
                self.expr(item)


def resolve_scopes(probe: ast.Probe):
    """Give every variable of ``probe`` its binding (once per probe)."""
    if probe.scopes_resolved:
        return
    r = _Resolver()
    # The predicate sees the body's scope (it can only read).
    r.stack.append(_Scope(_owned(probe.body)))
    if probe.predicate is not None:
        r.expr(probe.predicate)
    for s in probe.body:
        r.stmt(s)
    probe.scopes_resolved = True
