"""Names for values the script computes, taken from the expressions that
compute them: the fields of a printf event seen from Python
(``printf("%s %d", comm, pid)`` has fields ``comm`` and ``pid``) and the
labels of a map's keys in the Prometheus exporter (``@[comm, args.fd]``
has labels ``comm`` and ``fd``).

The convention: a builtin is its name (``comm``, ``pid``, ``arg0``), a
variable or map its name without ``$``/``@``, a field access its last
field (``args.filename`` -> ``filename``), a call of one argument the name
of that argument (``str(args.filename)`` -> ``filename``), another call its
function's name (``kstack()`` -> ``kstack``), a cast what it casts.
Anything else (arithmetic, literals) has no name, and neither has a name
that two of the values share: those get their position (``arg0`` ...,
``key0`` ...) from :func:`unique_names`.
"""

from __future__ import annotations

import re

from . import ast

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def expr_name(e: ast.Expr) -> str | None:
    """The name the convention gives ``e``, or None."""
    if isinstance(e, ast.Builtin):
        name = e.name
    elif isinstance(e, (ast.Variable, ast.Map)):
        name = e.name
    elif isinstance(e, ast.FieldAccess):
        name = e.field
    elif isinstance(e, ast.Cast):
        return expr_name(e.expr)
    elif isinstance(e, ast.Call):
        if len(e.args) == 1 and e.name not in ("kstack", "ustack"):
            return expr_name(e.args[0])
        name = e.name
    else:
        return None
    return name if _IDENT.match(name or "") else None


def unique_names(exprs, prefix: str) -> list[str]:
    """One name per expression: its own where it has one that no other
    shares, else ``prefix`` and its position."""
    names = [expr_name(e) for e in exprs]
    out = []
    for i, n in enumerate(names):
        if n is None or names.count(n) > 1 or (n.startswith(prefix)
                                               and n[len(prefix):].isdigit()):
            n = f"{prefix}{i}"
        out.append(n)
    return out
