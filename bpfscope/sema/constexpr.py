"""The value of an integer expression known at compile time (literals,
positional parameters, sizeof and operators on them), which
static_assert() needs.

A mixin of sema.analyzer.Analyzer: ``self`` is the analyser. The
builtin functions themselves are typed by their records
(sema.registry, filled by bpfscope.functions).
"""

from __future__ import annotations

from ..lang import ast


class ConstValues:
    CONST_OPS = {
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: int(a / b) if b else 0, "%": lambda a, b: a - b * int(a / b) if b else 0,
        "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
        "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b,
        "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
        "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b),
        ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
        "&&": lambda a, b: int(bool(a and b)), "||": lambda a, b: int(bool(a or b)),
    }

    def const_value(self, e: ast.Expr) -> int | None:
        """The value of an integer expression made of literals, positional
        parameters and sizeof, else None."""
        if isinstance(e, (ast.Integer, ast.Bool)):
            return int(e.value)
        if isinstance(e, ast.PositionalParam):
            return self.const_int(e, "static_assert") if e.type is not None and \
                e.type.is_int() else None
        if isinstance(e, ast.Sizeof):
            return e.size
        if isinstance(e, ast.Unop) and e.op in ("!", "-", "~", "+"):
            v = self.const_value(e.operand)
            if v is None:
                return None
            return {"!": int(not v), "-": -v, "~": ~v, "+": v}[e.op]
        if isinstance(e, ast.Binop) and e.op in self.CONST_OPS:
            a, b = self.const_value(e.left), self.const_value(e.right)
            if a is None or b is None:
                return None
            return self.CONST_OPS[e.op](a, b)
        return None
