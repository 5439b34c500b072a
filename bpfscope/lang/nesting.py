"""How deeply a script may nest, and the check of a finished tree.

Every pass of the compiler (parser, macro expansion, inlining, sema,
codegen, printer) recurses over the AST and spends a few Python frames per
level, so a script nested thousands of levels deep (5000 parentheses, a
``->parent`` chain 2000 long, a macro calling a macro a thousand times)
would end in a RecursionError. The limits below keep every tree well inside
Python's default recursion limit, whoever calls the compiler, and each
excess is reported where it happens: at the token of the parser, at the
call site of an expansion, at the node of a finished tree. Real scripts
nest about ten levels; the bundled tools at most eleven.
"""

from __future__ import annotations

from ..errors import SemanticError, Span, SyntaxErr
from . import ast

# Nested blocks, parentheses, operators and ->/[] chains, as the AST's height.
MAX_DEPTH = 100
# Macros expanding macros, and user functions calling user functions.
MAX_EXPANSION = 32
# Program, probe and statement levels above the nesting the parser counts.
_ROOT_LEVELS = 3


def parse_too_deep(what: str, span: Span) -> SyntaxErr:
    return SyntaxErr(f"{what} too deeply (more than {MAX_DEPTH} levels)", span)


def expansion_too_deep(what: str, chain: list[str], span: Span) -> SemanticError:
    """``chain`` is the names from the outermost call to the refused one."""
    shown = chain if len(chain) <= 6 else chain[:3] + ["..."] + chain[-2:]
    return SemanticError(f"{what} nest too deeply (more than {MAX_EXPANSION} levels). "
                         "Call chain: " + " > ".join(shown), span)


def _children(node) -> list:
    out = []
    for name in ast.syntax_fields(node):
        stack = [getattr(node, name)]
        while stack:
            val = stack.pop()
            if hasattr(val, "__dataclass_fields__"):
                out.append(val)
            elif isinstance(val, (list, tuple)):
                stack.extend(val)
    return out


def height(node, limit: int | None = None):
    """The number of levels of the tree under ``node`` (a node alone is 1),
    walked without recursion. With ``limit``: the first node found deeper
    than that instead, or None when there is none."""
    best = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        if limit is not None and d > limit:
            return n
        best = max(best, d)
        stack.extend((c, d + 1) for c in _children(n))
    return None if limit is not None else best


def body_height(body) -> int:
    """The height of a macro or function body (a statement list or a
    block expression)."""
    if isinstance(body, list):
        return 1 + max((height(s) for s in body), default=0)
    return height(body)


def program_too_deep(span: Span | None, error=SemanticError) -> SemanticError:
    return error(f"program nests too deeply (more than {MAX_DEPTH} levels)", span)


def check_height(program, error=SemanticError) -> None:
    """Raise ``error`` at the first node of ``program`` nested deeper than
    the passes after this one can take."""
    node = height(program, MAX_DEPTH + _ROOT_LEVELS)
    if node is not None:
        raise program_too_deep(node.span, error)
