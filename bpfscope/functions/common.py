"""Pieces several families' records share."""

from __future__ import annotations

from ..codegen.insn import R0
from ..codegen.loweringvalues import Int
from ..lang import ast
from ..sema import types as T
from ..sema.registry import Function


def lower_argument(lw, e: ast.Call) -> Int:
    """The integer argument itself: the type the check gave says how user
    space prints it (a symbol, an errno's text, a kernel pointer...)."""
    return lw.int_expr(e.args[0])


def of_type(t: T.Type):
    """The check of a builtin variable that any probe may read: its type."""
    def check(an, e: ast.Builtin) -> T.Type:
        return t
    return check


def helper_value(helper: str):
    """The lowering of a builtin variable that is a BPF helper's result."""
    def lower(lw, e: ast.Builtin) -> Int:
        r = lw.b.vreg()
        lw.b.call(helper)
        lw.b.mov(r, R0)
        return Int(r)
    return lower


def store_text(text):
    """The store of a builtin variable whose value the probe knows when it
    is compiled (probe, func): ``text(probe)`` written as a string."""
    def store(lw, e: ast.Builtin, dst, t: T.Type) -> None:
        lw.store_string(ast.String(e.span, text(lw.probe)), dst, t.length)
    return store


def check_format(an, e: ast.Call) -> None:
    """The first argument of cat() and system(): a string literal format."""
    if not e.args or not isinstance(e.args[0], ast.String):
        an.err(f"{e.name}() expects a string literal format as first argument", e.span)


def check_format_args(an, e: ast.Call) -> T.Type:
    """The values a cat() or system() format takes: integers and strings."""
    for a in e.args[1:]:
        t = an.expr(a)
        if t is not None and not (t.is_int() or t.is_string()):
            an.err(f"{e.name}: unsupported argument type '{T.type_name(t)}'", a.span)
    return T.VOID


def emit_format_event(lw, e: ast.Call) -> None:
    """A record of the format's arguments, formatted by user space."""
    ev = lw.sc.event(e.name, fmt=e.args[0].value, args=[a.type for a in e.args[1:]])
    lw.emit_event(ev, e.args[1:])


def byte_source(an, e: ast.Call, i: int = 0) -> int | None:
    """Type argument ``i`` read as bytes (buf, macaddr): a tracepoint
    array field or a string (their size, which bounds the read), or a
    pointer (None)."""
    a = e.args[i]
    t = an.expr(a)
    if t is None or t.is_int():
        return None
    if t.is_string():
        return t.length
    if isinstance(t, T.ArrayType):
        return t.size
    an.err(f"{e.name}() expects a pointer, an array or a string "
           f"('{T.type_name(t)}' provided)", a.span)


def unsupported(name: str) -> Function:
    """A function bpftrace has whose lowering comes with a later issue:
    known, so a script using it is told so rather than that it does not
    exist."""
    def check(an, e: ast.Call) -> T.Type:
        an.err(f"{e.name}() is not supported yet", e.span)
    return Function(name, check)
