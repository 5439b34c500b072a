"""Turn an AST back into canonical bpftrace source.

``to_source(node)`` accepts a Program or any node below it. The output uses
one statement per line, four-space indentation, single spaces around binary
operators, and only the parentheses needed to keep the tree: printing and
parsing again gives an equal tree, and printing that gives the same text.
"""

from __future__ import annotations

from . import ast
from .parser import (BINARY_PRECEDENCE, POSTFIX_PRECEDENCE, PRIMARY_PRECEDENCE,
                     TERNARY_PRECEDENCE, UNARY_PRECEDENCE)

INDENT = "    "

_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"'}


def quote_string(value: str) -> str:
    """A double-quoted literal that the lexer decodes back to value."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c >= " " and c != "\x7f" and not "\udc80" <= c <= "\udcff":
            out.append(c)
        else:
            # Three octal digits, so that a following digit is not absorbed.
            out.append("\\%03o" % (ord(c) & 0xFF))
    return '"' + "".join(out) + '"'


def type_source(t: ast.TypeSpec) -> str:
    text = t.name
    if t.pointer_depth:
        text += " " + "*" * t.pointer_depth
    if t.array_size is not None:
        text += f"[{t.array_size or ''}]"
    return text


def precedence(e: ast.Expr) -> int:
    if isinstance(e, ast.Ternary):
        return TERNARY_PRECEDENCE
    if isinstance(e, ast.Binop):
        return BINARY_PRECEDENCE[e.op]
    if isinstance(e, ast.Cast) or (isinstance(e, ast.Unop) and not e.postfix):
        return UNARY_PRECEDENCE
    if isinstance(e, (ast.Unop, ast.Index, ast.FieldAccess)):
        return POSTFIX_PRECEDENCE
    return PRIMARY_PRECEDENCE


def expr_source(e: ast.Expr) -> str:
    method = _EXPR_PRINTERS.get(type(e))
    if method is None:
        raise TypeError(f"cannot print {type(e).__name__}")
    return method(e)


def _sub(e: ast.Expr, min_prec: int) -> str:
    text = expr_source(e)
    return text if precedence(e) >= min_prec else f"({text})"


def _binop(e: ast.Binop) -> str:
    prec = BINARY_PRECEDENCE[e.op]
    return f"{_sub(e.left, prec)} {e.op} {_sub(e.right, prec + 1)}"


def _ternary(e: ast.Ternary) -> str:
    cond = _sub(e.cond, TERNARY_PRECEDENCE + 1)
    return f"{cond} ? {expr_source(e.then)} : {expr_source(e.orelse)}"


def _unop(e: ast.Unop) -> str:
    if e.postfix:
        return _sub(e.operand, POSTFIX_PRECEDENCE) + e.op
    operand = _sub(e.operand, UNARY_PRECEDENCE)
    # '- -x' must not become '--x', nor '& &x' become '&&x'.
    if operand[:1] == e.op[-1] and e.op[-1] in "+-&":
        return f"{e.op} {operand}"
    return e.op + operand


def _cast(e: ast.Cast) -> str:
    return f"({type_source(e.type_spec)}){_sub(e.expr, UNARY_PRECEDENCE)}"


def _field(e: ast.FieldAccess) -> str:
    base = _sub(e.expr, POSTFIX_PRECEDENCE)
    return f"{base}{'->' if e.arrow else '.'}{e.field}"


def _index(e: ast.Index) -> str:
    return f"{_sub(e.expr, POSTFIX_PRECEDENCE)}[{expr_source(e.index)}]"


def _args(exprs: list[ast.Expr]) -> str:
    return ", ".join(expr_source(a) for a in exprs)


def _map(e: ast.Map) -> str:
    if e.keys or e.has_brackets:
        return f"@{e.name}[{_args(e.keys)}]"
    return "@" + e.name


def _tuple(e: ast.Tuple) -> str:
    # a tuple of one keeps its comma, or it would read back as its element
    return f"({_args(e.elems)}{',' if len(e.elems) == 1 else ''})"


def _record(e: ast.Record) -> str:
    return "(" + ", ".join(f"{k}={expr_source(v)}" for k, v in e.fields) + ")"


def _sizeof(e: ast.Sizeof) -> str:
    inner = type_source(e.type_arg) if e.type_arg else expr_source(e.expr)
    return f"sizeof({inner})"


def _offsetof(e: ast.Offsetof) -> str:
    base = type_source(e.type_arg) if e.type_arg else expr_source(e.expr)
    return f"offsetof({base}, {'.'.join(e.fields)})"


def _block_expr(e: ast.BlockExpr) -> str:
    parts = [_inline_stmt(s) for s in e.stmts]
    parts.append(expr_source(e.value))
    return "{ " + " ".join(parts) + " }"


_EXPR_PRINTERS = {
    ast.Integer: lambda e: e.text or str(e.value),
    ast.String: lambda e: quote_string(e.value),
    ast.Bool: lambda e: "true" if e.value else "false",
    ast.Builtin: lambda e: ("__builtin_" if e.raw else "") + e.name,
    ast.Identifier: lambda e: e.name,
    ast.PositionalParam: lambda e: f"${e.index}",
    ast.PositionalCount: lambda e: "$#",
    ast.Variable: lambda e: "$" + e.name,
    ast.Map: _map,
    ast.Call: lambda e: f"{e.name}({_args(e.args)})",
    ast.InlineCall: lambda e: f"{e.name}({_args(e.args)})",
    ast.Sizeof: _sizeof,
    ast.Offsetof: _offsetof,
    ast.Binop: _binop,
    ast.Unop: _unop,
    ast.Ternary: _ternary,
    ast.FieldAccess: _field,
    ast.Index: _index,
    ast.Cast: _cast,
    ast.Tuple: _tuple,
    ast.Record: _record,
    ast.BlockExpr: _block_expr,
}


# ---------------------------------------------------------------- statements

def _simple_stmt(s: ast.Stmt) -> str | None:
    """Text of a statement that ends with ';' (without it), else None."""
    if isinstance(s, ast.ExprStmt):
        text = expr_source(s.expr)
        if s.discard:
            return "_ = " + text
        # A leading '{' would read back as a block statement.
        return f"({text})" if text.startswith("{") else text
    if isinstance(s, ast.AssignMap):
        return f"{_map(s.map)} {s.op} {expr_source(s.value)}"
    if isinstance(s, ast.AssignVar):
        return f"${s.var.name} {s.op} {expr_source(s.value)}"
    if isinstance(s, ast.VarDecl):
        text = f"let ${s.var.name}"
        if s.type_spec is not None:
            text += ": " + type_source(s.type_spec)
        if s.value is not None:
            text += " = " + expr_source(s.value)
        return text
    if isinstance(s, ast.Jump):
        if s.value is not None:
            return f"return {expr_source(s.value)}"
        return s.kind
    return None


def _inline_stmt(s: ast.Stmt) -> str:
    """A statement on one line, for block expressions."""
    return " ".join(line.strip() for line in _stmt_lines(s, 0))


def _block_lines(stmts: list[ast.Stmt], level: int) -> list[str]:
    lines: list[str] = []
    for s in stmts:
        lines.extend(_stmt_lines(s, level))
    return lines


def _braced(head: str, stmts: list[ast.Stmt], level: int) -> list[str]:
    pad = INDENT * level
    if not stmts:
        return [f"{pad}{head}{{}}" if head else pad + "{}"]
    return ([f"{pad}{head}{{"] + _block_lines(stmts, level + 1)
            + [pad + "}"])


def _stmt_lines(s: ast.Stmt, level: int) -> list[str]:
    simple = _simple_stmt(s)
    if simple is not None:
        return [INDENT * level + simple + ";"]
    if isinstance(s, ast.If):
        return _if_lines(s, level, "")
    if isinstance(s, ast.While):
        return _braced(f"while ({expr_source(s.cond)}) ", s.body, level)
    if isinstance(s, ast.Unroll):
        return _braced(f"unroll ({expr_source(s.count)}) ", s.body, level)
    if isinstance(s, ast.ForMap):
        return _braced(f"for (${s.var.name} : {_map(s.map)}) ", s.body, level)
    if isinstance(s, ast.ForRange):
        start = _sub(s.start, UNARY_PRECEDENCE)
        end = _sub(s.end, UNARY_PRECEDENCE)
        return _braced(f"for (${s.var.name} : {start}..{end}) ", s.body,
                       level)
    if isinstance(s, ast.Block):
        return _braced("", s.stmts, level)
    raise TypeError(f"cannot print {type(s).__name__}")


def _if_lines(s: ast.If, level: int, prefix: str) -> list[str]:
    lines = _braced(f"{prefix}if ({expr_source(s.cond)}) ", s.then, level)
    if s.orelse is None:
        return lines
    pad = INDENT * level
    last = lines.pop()[len(pad):]
    if len(s.orelse) == 1 and isinstance(s.orelse[0], ast.If):
        more = _if_lines(s.orelse[0], level, f"{last} else ")
    else:
        more = _braced(f"{last} else ", s.orelse, level)
    return lines + more


# ---------------------------------------------------------------- top level

def _probe(p: ast.Probe) -> str:
    head = ", ".join(a.raw for a in p.attach_points)
    if p.predicate is not None:
        head += f" /{expr_source(p.predicate)}/"
    return "\n".join(_braced(head + " ", p.body, 0))


def _config(c: ast.ConfigBlock) -> str:
    lines = ["config = {"]
    lines += [f"{INDENT}{k} = {expr_source(v)};" for k, v in c.items]
    return "\n".join(lines + ["}"])


def _macro(m: ast.Macro) -> str:
    head = f"macro {m.name}({', '.join(m.params)}) "
    if isinstance(m.body, ast.BlockExpr):
        lines = _braced(head, m.body.stmts + [ast.ExprStmt(m.body.span,
                                                           m.body.value)], 0)
        # The value is the block's last line and carries no ';'.
        lines[-2] = lines[-2][:-1]
        return "\n".join(lines)
    return "\n".join(_braced(head, m.body, 0))


def _subprog(f: ast.Subprog) -> str:
    params = ", ".join(f"${n}: {type_source(t)}" for n, t in f.params)
    head = f"fn {f.name}({params})"
    if f.return_type is not None:
        head += ": " + type_source(f.return_type)
    return "\n".join(_braced(head + " ", f.body, 0))


def _map_decl(d: ast.MapDecl) -> str:
    return f"let @{d.name} = {d.kind}({_args(d.args)});"


def _program(p: ast.Program) -> str:
    chunks: list[str] = []
    if p.c_definitions:
        chunks.append("\n".join(c.text for c in p.c_definitions))
    if p.config is not None:
        chunks.append(_config(p.config))
    if p.imports:
        chunks.append("\n".join(f"import {quote_string(i.path)};"
                                for i in p.imports))
    if p.map_decls:
        chunks.append("\n".join(_map_decl(d) for d in p.map_decls))
    chunks += [_macro(m) for m in p.macros]
    chunks += [_subprog(f) for f in p.subprogs]
    chunks += [_probe(pr) for pr in p.probes]
    return "\n\n".join(chunks) + "\n"


_TOP_PRINTERS = {
    ast.Program: _program,
    ast.Probe: _probe,
    ast.ConfigBlock: _config,
    ast.Macro: _macro,
    ast.Subprog: _subprog,
    ast.MapDecl: _map_decl,
    ast.CDefinition: lambda c: c.text,
    ast.Import: lambda i: f"import {quote_string(i.path)};",
    ast.AttachPoint: lambda a: a.raw,
    ast.TypeSpec: type_source,
}


def to_source(node: ast.Node) -> str:
    """Canonical source text for node (a Program, probe, statement or
    expression)."""
    top = _TOP_PRINTERS.get(type(node))
    if top is not None:
        return top(node)
    if isinstance(node, ast.Expr):
        return expr_source(node)
    if isinstance(node, ast.Stmt):
        return "\n".join(_stmt_lines(node, 0))
    raise TypeError(f"cannot print {type(node).__name__}")
