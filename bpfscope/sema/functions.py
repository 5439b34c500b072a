"""Type rules of bpftrace's byte and string functions: buf, strstr,
str_concat, pton, macaddr, bswap, signal_name and the like.

A mixin of sema.analyzer.Analyzer: ``self`` is the analyser (``self.expr``
types an argument, ``self.err`` raises a located error). ``Analyzer.call``
dispatches a call named ``f`` to ``check_f`` when this class has one.
"""

from __future__ import annotations

from ..lang import ast
from . import types as T

def literal_int(e: ast.Expr) -> int | None:
    """The value of an integer literal (or a negated one), else None."""
    if isinstance(e, ast.Integer):
        return e.value
    if isinstance(e, ast.Unop) and e.op == "-" and isinstance(e.operand, ast.Integer):
        return -e.operand.value
    return None


class FunctionChecks:
    def byte_source(self, e: ast.Call, i: int = 0) -> int | None:
        """Type argument ``i`` read as bytes: a tracepoint array field or a
        string (their size, which bounds the read), or a pointer (None)."""
        a = e.args[i]
        t = self.expr(a)
        if t is None or t.is_int():
            return None
        if t.is_string():
            return t.length
        if isinstance(t, T.ArrayType):
            return t.size
        self.err(f"{e.name}() expects a pointer, an array or a string "
                 f"('{T.type_name(t)}' provided)", a.span)

    def check_buf(self, e: ast.Call) -> T.Type:
        self.nargs(e, 1, 2)
        size = self.byte_source(e)
        cap = self.max_strlen
        if len(e.args) == 1:
            if size is None:
                self.err("buf() needs a length when reading from a pointer", e.span)
            return T.BufferType(min(size, cap))
        self.int_arg(e, 1)
        n = literal_int(e.args[1])
        if n is None:  # computed at run time, limited to the room below
            return T.BufferType(min(size or cap, cap))
        if n <= 0:
            self.err("buf() length must be positive", e.args[1].span)
        return T.BufferType(min(n, cap, size or cap))

    def check_strstr(self, e: ast.Call) -> T.Type:
        self.nargs(e, 2)
        self.string_arg(e, 0)
        self.string_arg(e, 1)
        return T.INT64

    def check_strcontains(self, e: ast.Call) -> T.Type:
        self.check_strstr(e)
        return T.BOOL

    def check_str_concat(self, e: ast.Call) -> T.Type:
        """A new string with room for both (less one NUL), at most max_strlen."""
        self.nargs(e, 2)
        a, b = self.string_arg(e, 0), self.string_arg(e, 1)
        if a is None or b is None:
            return T.StringType(self.max_strlen)
        return T.StringType(min(a.length + b.length - 1, self.max_strlen))

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
