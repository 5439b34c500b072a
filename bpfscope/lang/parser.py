"""Recursive-descent parser for the bpftrace language.

``parse(source)`` turns a :class:`~bpfscope.errors.Source` into an
:class:`~bpfscope.lang.ast.Program` or raises
:class:`~bpfscope.errors.SyntaxErr`. Error messages follow bison's verbose
style that bpftrace prints (``syntax error, unexpected X, expecting Y``) so
that users see the same text as with bpftrace.

Binary operators are parsed by precedence climbing over ``BINARY_PRECEDENCE``,
which the printer shares to decide where parentheses are needed.
"""

from __future__ import annotations

import re

from ..errors import Source, Span, SyntaxErr
from . import ast
from . import lexer as lx
from .nesting import MAX_DEPTH, check_height, parse_too_deep
from .preproc import Conditionals
from .lexer import Token

# Higher binds tighter; all binary operators are left associative.
BINARY_PRECEDENCE = {
    "||": 2, "&&": 3, "|": 4, "^": 5, "&": 6,
    "==": 7, "!=": 7, "<": 8, "<=": 8, ">": 8, ">=": 8,
    "<<": 9, ">>": 9, "+": 10, "-": 10, "*": 11, "/": 11, "%": 11,
}
TERNARY_PRECEDENCE = 1
UNARY_PRECEDENCE = 12
POSTFIX_PRECEDENCE = 13
PRIMARY_PRECEDENCE = 14

ASSIGN_OPS = frozenset(("=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
                        "<<=", ">>="))
PREFIX_OPS = frozenset(("!", "~", "-", "+", "*", "&", "++", "--"))

_BUILTIN_NAMES = frozenset((
    "pid", "tid", "uid", "gid", "nsecs", "elapsed", "numaid", "cpu", "ncpus",
    "curtask", "rand", "ctx", "comm", "kstack", "ustack", "retval", "func",
    "probe", "username", "cgroup", "cpid", "args", "jiffies", "usermode", "ppid",
))
_NUMBERED_BUILTIN = re.compile(r"s?arg[0-9]+\Z")
# Builtins that 0.26 also takes as calls without arguments (`comm()`,
# `cpu()`: its standard library defines them as macros); the others are
# functions too (pid(), nsecs(), kstack() ...), which take the call.
_CALLABLE_BUILTINS = _BUILTIN_NAMES - {"pid", "tid", "nsecs", "kstack", "ustack"}
BUILTIN_PREFIX = "__builtin_"
# Builtin variables beyond the language's own words that sema.registry
# holds records of (add_builtin_name): the parser makes builtins of them too.
_REGISTERED_NAMES: set[str] = set()

# Type names that can only be types, so '(' NAME ')' is surely a cast.
INT_TYPES = frozenset(("int8", "int16", "int32", "int64", "uint8", "uint16",
                       "uint32", "uint64", "bool"))
SIZED_TYPES = frozenset(("string", "inet", "buffer"))
TYPE_WORDS = INT_TYPES | SIZED_TYPES
TAG_KEYWORDS = ("struct", "union", "enum")

# Tokens that may begin an operand; after '(' NAME ')' they make it a cast.
_OPERAND_START = frozenset((lx.INT, lx.STR, lx.IDENT, lx.VAR, lx.PARAM,
                            lx.PARAMCOUNT, lx.MAP, "(", "sizeof", "offsetof",
                            "!", "~"))

# How bison (and so bpftrace) names tokens in "unexpected X" messages.
_KIND_NAMES = {
    lx.INT: "integer", lx.STR: "string", lx.IDENT: "identifier",
    lx.VAR: "variable", lx.PARAM: "positional parameter", lx.PARAMCOUNT: "$#",
    lx.MAP: "map", lx.CPP: "preprocessor directive",
    lx.CDEF: "struct definition", lx.ATTACH: "attach point",
    lx.ENDPRED: "end predicate", lx.EOF: "end of file",
}


def is_builtin_name(name: str) -> bool:
    """True for the names the parser turns into ast.Builtin."""
    return (name in _BUILTIN_NAMES or name.startswith(BUILTIN_PREFIX)
            or _NUMBERED_BUILTIN.match(name) is not None or name in _REGISTERED_NAMES)


def add_builtin_name(name: str) -> None:
    """Parse ``name`` as a builtin variable (sema.registry registers one)."""
    if name not in _BUILTIN_NAMES:
        _REGISTERED_NAMES.add(name)


def remove_builtin_name(name: str) -> None:
    _REGISTERED_NAMES.discard(name)


def token_description(tok: Token) -> str:
    if tok.kind == ",":
        return '","'
    if tok.kind == lx.IDENT and is_builtin_name(tok.text):
        return "builtin"
    return _KIND_NAMES.get(tok.kind, tok.kind)


def _expected_name(kind: str) -> str:
    # bison keeps the quotes of a token alias that contains a comma.
    if kind == ",":
        return '","'
    return _KIND_NAMES.get(kind, kind)


class Parser:
    def __init__(self, source: Source):
        self.source = source
        self.stream = lx.token_stream(source.text)
        self.toks = [next(self.stream)]
        self.i = 0
        self.tok = self.toks[0]
        self.prev = self.tok
        # blocks and expressions open around the current token
        self.depth = 0
        self.cpp = Conditionals()

    # ------------------------------------------------------------ helpers

    def advance(self) -> Token:
        tok = self.tok
        if tok.kind == lx.ERROR:
            raise SyntaxErr(tok.value, tok.span)
        self.prev = tok
        self.i += 1
        if self.i == len(self.toks):
            self.lex_to(self.i)
        if self.i < len(self.toks):
            self.tok = self.toks[self.i]
        return tok

    def lex_to(self, j: int):
        """Lex as far as token j (or the end): the lexer runs only as far
        as the parser reads."""
        toks = self.toks
        while len(toks) <= j and toks[-1].kind != lx.EOF:
            toks.append(next(self.stream))

    def peek(self, k: int = 1) -> Token:
        self.lex_to(self.i + k)
        j = min(self.i + k, len(self.toks) - 1)
        return self.toks[j]

    def error(self, expecting: tuple[str, ...] = ()) -> SyntaxErr:
        tok = self.tok
        if tok.kind == lx.ERROR:
            return SyntaxErr(tok.value, tok.span)
        msg = f"syntax error, unexpected {token_description(tok)}"
        if expecting:
            msg += ", expecting " + " or ".join(_expected_name(k)
                                               for k in expecting)
        return SyntaxErr(msg, tok.span)

    def expect(self, kind: str, *also: str) -> Token:
        if self.tok.kind != kind:
            raise self.error((kind,) + also)
        return self.advance()

    def accept(self, kind: str) -> Token | None:
        if self.tok.kind == kind:
            return self.advance()
        return None

    def list_closed(self, close: str) -> bool:
        """After a list item: True (consumed) at close, False after ','."""
        if self.accept(close):
            return True
        if self.accept(","):
            return False
        raise self.error((close, ","))

    def deeper(self, what: str):
        """One more level open (undone with ``self.depth -= 1``)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise parse_too_deep(what, self.tok.span)

    def span_from(self, start: Span) -> Span:
        end = self.prev.span
        return Span(start.line, start.col, end.end_line, end.end_col)

    # ------------------------------------------------------------ top level

    def program(self) -> ast.Program:
        start = self.tok.span
        prog = ast.Program(span=start)
        while self.tok.kind != lx.EOF:
            kind = self.tok.kind
            if kind in (lx.CPP, lx.CDEF):
                tok = self.advance()
                if kind == lx.CPP and self.cpp.line(tok.value, tok.span):
                    continue
                # what an #if leaves out is C (structs, includes) in scripts
                if self.cpp.active:
                    prog.c_definitions.append(ast.CDefinition(tok.span, tok.value))
            elif kind == "config":
                if prog.config is not None:
                    raise SyntaxErr("duplicate config block", self.tok.span)
                prog.config = self.config_block()
            elif kind == "import":
                prog.imports.append(self.import_stmt())
            elif kind == "let":
                prog.map_decls.append(self.map_decl())
            elif kind == "macro":
                prog.macros.append(self.macro())
            elif kind == "fn":
                prog.subprogs.append(self.subprog())
            elif kind == lx.ATTACH:
                prog.probes.append(self.probe())
            else:
                raise self.error()
        self.cpp.finish(self.tok.span)
        prog.span = self.span_from(start) if self.i else start
        return prog

    def config_block(self) -> ast.ConfigBlock:
        start = self.advance().span
        self.expect("=")
        self.expect("{")
        items: list[tuple[str, ast.Expr]] = []
        spans = []
        while self.tok.kind != "}":
            key = self.expect(lx.IDENT, "}")
            self.expect("=")
            items.append((key.text, self.expr()))
            spans.append(self.span_from(key.span))
            if not self.accept(";") and self.tok.kind != "}":
                raise self.error(("}",))
        self.advance()
        return ast.ConfigBlock(self.span_from(start), items, spans)

    def import_stmt(self) -> ast.Import:
        start = self.advance().span
        path = self.expect(lx.STR).value
        self.expect(";")
        return ast.Import(self.span_from(start), path)

    def map_decl(self) -> ast.MapDecl:
        start = self.advance().span
        name = self.expect(lx.MAP).value
        self.expect("=")
        kind = self.expect(lx.IDENT).text
        self.expect("(")
        args = self.call_args()
        self.expect(";")
        return ast.MapDecl(self.span_from(start), name, kind, args)

    def macro(self) -> ast.Macro:
        start = self.advance().span
        name = self.expect(lx.IDENT).text
        self.expect("(")
        params: list[str] = []
        while self.tok.kind != ")":
            if self.tok.kind not in (lx.VAR, lx.MAP, lx.IDENT):
                raise self.error((")",) if not params else ())
            params.append(self.advance().text)
            if not self.accept(","):
                break
        self.expect(")", ",")
        block_start = self.tok.span
        stmts, value = self.block(allow_value=True)
        body: ast.BlockExpr | list[ast.Stmt]
        if value is not None:
            body = ast.BlockExpr(self.span_from(block_start), stmts, value)
        else:
            body = stmts
        return ast.Macro(self.span_from(start), name, params, body)

    def subprog(self) -> ast.Subprog:
        start = self.advance().span
        name = self.expect(lx.IDENT).text
        self.expect("(")
        params: list[tuple[str, ast.TypeSpec]] = []
        while self.tok.kind == lx.VAR:
            pname = self.advance().value
            self.expect(":")
            params.append((pname, self.type_spec()))
            if not self.accept(","):
                break
        self.expect(")", ",")
        ret = None
        if self.accept(":"):
            ret = self.type_spec()
        body, _ = self.block()
        return ast.Subprog(self.span_from(start), name, params, ret, body)

    def probe(self) -> ast.Probe:
        start = self.tok.span
        points = [self.attach_point()]
        while self.accept(","):
            if self.tok.kind != lx.ATTACH:
                raise self.error()
            points.append(self.attach_point())
        pred = None
        if self.accept("/"):
            pred = self.expr()
            self.expect(lx.ENDPRED)
        if self.tok.kind == lx.EOF:
            # bpftrace words this case without the bison prefix.
            raise SyntaxErr("unexpected end of file, expected {",
                            self.span_from(start))
        if self.tok.kind != "{":
            raise self.error(("{",))
        body, _ = self.block()
        return ast.Probe(self.span_from(start), points, pred, body)

    def attach_point(self) -> ast.AttachPoint:
        tok = self.advance()
        return ast.AttachPoint(tok.span, tok.text, tok.value)

    # ------------------------------------------------------------ statements

    def block(self, allow_value: bool = False
              ) -> tuple[list[ast.Stmt], ast.Expr | None]:
        """``{ stmts }``. With allow_value, a last expression without ';'
        is returned separately as the block's value."""
        self.deeper("blocks nest")
        self.expect("{")
        stmts: list[ast.Stmt] = []
        value = None
        while self.tok.kind != "}":
            if self.tok.kind == ";":
                raise self.error(("}",))
            stmt, needs_semi = self.statement()
            if needs_semi and not self.accept(";"):
                if self.tok.kind != "}":
                    raise self.error(("}",))
                if allow_value and isinstance(stmt, ast.ExprStmt):
                    value = stmt.expr
                    break
            if allow_value and self.tok.kind == "}" and isinstance(stmt, ast.If):
                # a block's last `if c { a } else { b }` is its value
                value = if_as_value(stmt)
                if value is not None:
                    break
            stmts.append(stmt)
        self.expect("}")
        self.depth -= 1
        return stmts, value

    def statement(self) -> tuple[ast.Stmt, bool]:
        """One statement, and whether a ';' must follow it."""
        kind = self.tok.kind
        start = self.tok.span
        if kind == "if":
            return self.if_stmt(), False
        if kind in ("while", "unroll"):
            self.advance()
            cond = self.condition()
            head = self.span_from(start)
            body, _ = self.block()
            if kind == "while":
                return ast.While(self.span_from(start), cond, body), False
            node = ast.Unroll(self.span_from(start), cond, body)
            node.head = head
            return node, False
        if kind == "for":
            return self.for_stmt(), False
        if kind == "{":
            body, _ = self.block()
            return ast.Block(self.span_from(start), body), False
        if kind == "let":
            return self.var_decl(), True
        if kind in ("break", "continue"):
            self.advance()
            return ast.Jump(start, kind), True
        if kind == "return":
            self.advance()
            value = None
            if self.tok.kind not in (";", "}"):
                value = self.expr()
            return ast.Jump(self.span_from(start), "return", value), True
        expr = self.expr()
        if self.tok.kind in ASSIGN_OPS:
            return self.assignment(expr), True
        return ast.ExprStmt(expr.span, expr), True

    def assignment(self, target: ast.Expr) -> ast.Stmt:
        op = self.tok.kind
        if isinstance(target, ast.Identifier) and target.name == "_" and op == "=":
            self.advance()
            value = self.expr()
            return ast.ExprStmt(target.span.to(value.span), value, discard=True)
        if not isinstance(target, (ast.Map, ast.Variable)):
            raise self.error(("}",))
        self.advance()
        value = self.expr()
        span = target.span.to(value.span)
        if isinstance(target, ast.Map):
            return ast.AssignMap(span, target, value, op)
        return ast.AssignVar(span, target, value, op)

    def condition(self) -> ast.Expr:
        """The condition of if/while/unroll: bpftrace 0.26 takes any
        expression before the block (`if $x { }`); the parentheses of
        `if ($x) { }` are then those of a parenthesised expression."""
        if self.tok.kind == "{":
            raise self.error(("(",))
        return self.expr()

    def if_stmt(self) -> ast.If:
        start = self.advance().span
        cond = self.condition()
        then, then_value = self.branch()
        orelse, else_value = None, False
        if self.accept("else"):
            if self.tok.kind == "if":
                # each `else if` is an If inside the one before
                self.deeper("else-if chain nests")
                orelse = [self.if_stmt()]
                else_value = all(orelse[0].valued)
                self.depth -= 1
            elif self.tok.kind == "{":
                orelse, else_value = self.branch()
            else:
                raise self.error(("{", "if"))
        node = ast.If(self.span_from(start), cond, then, orelse)
        node.valued = (then_value, else_value)
        return node

    def branch(self) -> tuple[list[ast.Stmt], bool]:
        """A block of an if, and whether it ends in an expression without
        ';' (kept as its last statement)."""
        stmts, value = self.block(allow_value=True)
        if value is None:
            return stmts, False
        return stmts + [ast.ExprStmt(value.span, value)], True

    def if_value(self) -> ast.Expr:
        """``if c { ...; a } else { ...; b }`` used as a value (bpftrace
        0.26): the ternary ``c ? { ...; a } : { ...; b }``."""
        node = self.if_stmt()
        value = if_as_value(node)
        if value is None:
            raise SyntaxErr("an if used as a value needs an else, and each of its "
                            "blocks must end with an expression", node.span)
        return value

    def for_stmt(self) -> ast.Stmt:
        start = self.advance().span
        # bpftrace 0.26: the parentheses around `$v : ...` are optional
        close = ")" if self.accept("(") else "{"
        var = self.variable()
        self.expect(":")
        if self.tok.kind == lx.MAP and self.peek().kind == close:
            target = self.map_expr()
            if close == ")":
                self.expect(")")
            body, _ = self.block()
            return ast.ForMap(self.span_from(start), var, target, body)
        first = self.unary()
        self.expect("..")
        last = self.unary()
        if close == ")":
            self.expect(")")
        body, _ = self.block()
        return ast.ForRange(self.span_from(start), var, first, last, body)

    def var_decl(self) -> ast.VarDecl:
        start = self.advance().span
        var = self.variable()
        type_spec = None
        value = None
        if self.accept(":"):
            type_spec = self.type_spec()
        if self.accept("="):
            value = self.expr()
        return ast.VarDecl(self.span_from(start), var, type_spec, value)

    def variable(self) -> ast.Variable:
        tok = self.expect(lx.VAR)
        return ast.Variable(tok.span, tok.value)

    # ------------------------------------------------------------ types

    def starts_type(self) -> bool:
        tok = self.tok
        return tok.kind in TAG_KEYWORDS or (tok.kind == lx.IDENT
                                            and tok.text in TYPE_WORDS)

    def type_spec(self) -> ast.TypeSpec:
        start = self.tok.span
        if self.tok.kind in TAG_KEYWORDS:
            tag = self.advance().text
            name = f"{tag} {self.expect(lx.IDENT).text}"
        else:
            name = self.expect(lx.IDENT).text
        depth = 0
        while self.tok.kind == "*":
            depth += 1
            if depth > MAX_DEPTH:
                raise SyntaxErr(f"more than {MAX_DEPTH} levels of pointers", self.tok.span)
            self.advance()
        size = None
        if self.accept("["):
            size = 0 if self.tok.kind == "]" else self.expect(lx.INT).value
            self.expect("]")
        return ast.TypeSpec(self.span_from(start), name, depth, size)

    def cast_ahead(self) -> bool:
        """At '(': does a type and ')' follow (a cast, not a parenthesis)?"""
        nxt = self.peek()
        if nxt.kind in TAG_KEYWORDS:
            return True
        if nxt.kind != lx.IDENT or is_builtin_name(nxt.text):
            return False
        if nxt.text in TYPE_WORDS:
            return True
        # A typedef name: '(' NAME '*'... ')' or '(' NAME ')' operand.
        k = 2
        while self.peek(k).kind == "*":
            k += 1
        if self.peek(k).kind == "[":
            return (self.peek(k + 1).kind == lx.INT
                    and self.peek(k + 2).kind == "]"
                    and self.peek(k + 3).kind == ")")
        if self.peek(k).kind != ")":
            return False
        return k > 2 or self.peek(k + 1).kind in _OPERAND_START

    # ------------------------------------------------------------ expressions

    def expr(self) -> ast.Expr:
        self.deeper("expression nests")
        cond = self.binary(BINARY_PRECEDENCE["||"])
        if self.tok.kind != "?":
            self.depth -= 1
            return cond
        self.advance()
        if self.tok.kind == ":":
            # `a ?: b`, GNU C's form that bpftrace 0.26 takes: a when a is
            # true, else b; codegen sees the shared node and evaluates a once
            then = cond
        else:
            then = self.expr()
        self.expect(":")
        orelse = self.expr()
        self.depth -= 1
        return ast.Ternary(cond.span.to(orelse.span), cond, then, orelse)

    def binary(self, min_prec: int) -> ast.Expr:
        left = self.unary()
        prec_of = BINARY_PRECEDENCE
        # each operator of a left-associative chain adds a level above `left`
        depth = self.depth
        while True:
            op = self.tok.kind
            prec = prec_of.get(op)
            if prec is None or prec < min_prec:
                return left
            depth += 1
            if depth > MAX_DEPTH:
                raise parse_too_deep("expression nests", self.tok.span)
            self.advance()
            right = self.binary(prec + 1)
            left = ast.Binop(left.span.to(right.span), op, left, right)

    def unary(self) -> ast.Expr:
        kind = self.tok.kind
        if kind in PREFIX_OPS or (kind == "(" and self.cast_ahead()):
            self.deeper("expression nests")
            start = self.advance().span
            if kind != "(":
                operand = self.unary()
                node = ast.Unop(start.to(operand.span), kind, operand)
            else:
                type_spec = self.type_spec()
                self.expect(")")
                operand = self.unary()
                node = ast.Cast(start.to(operand.span), type_spec, operand)
            self.depth -= 1
            return node
        return self.postfix(self.primary())

    def postfix(self, expr: ast.Expr) -> ast.Expr:
        depth = self.depth
        while True:
            kind = self.tok.kind
            if kind in ("[", ".", "->", "++", "--"):
                # each one is a level above `expr`
                depth += 1
                if depth > MAX_DEPTH:
                    raise parse_too_deep("expression nests", self.tok.span)
            if kind == "[":
                self.advance()
                index = self.expr()
                self.expect("]")
                expr = ast.Index(self.span_from(expr.span), expr, index)
            elif kind in (".", "->"):
                self.advance()
                tok = self.tok
                if tok.kind not in (lx.IDENT, lx.INT) and \
                        tok.kind not in lx.KEYWORDS:
                    raise self.error()
                if tok.kind == lx.INT and kind == "->":
                    raise self.error()
                self.advance()
                expr = ast.FieldAccess(self.span_from(expr.span), expr,
                                       tok.text, kind == "->")
            elif kind in ("++", "--"):
                self.advance()
                expr = ast.Unop(self.span_from(expr.span), kind, expr, True)
            else:
                return expr

    def primary(self) -> ast.Expr:
        tok = self.tok
        kind = tok.kind
        if kind == lx.INT:
            self.advance()
            return ast.Integer(tok.span, tok.value, tok.text)
        if kind == lx.STR:
            self.advance()
            return ast.String(tok.span, tok.value)
        if kind == lx.VAR:
            self.advance()
            return ast.Variable(tok.span, tok.value)
        if kind == lx.MAP:
            return self.map_expr()
        if kind == lx.PARAM:
            self.advance()
            return ast.PositionalParam(tok.span, tok.value)
        if kind == lx.PARAMCOUNT:
            self.advance()
            return ast.PositionalCount(tok.span)
        if kind == lx.IDENT:
            return self.name()
        if kind == "(":
            return self.paren()
        if kind == "{":
            return self.block_expr()
        if kind == "if":
            return self.if_value()
        if kind == "sizeof":
            return self.sizeof()
        if kind == "offsetof":
            return self.offsetof()
        raise self.error()

    def name(self) -> ast.Expr:
        tok = self.advance()
        text = tok.text
        rest = text[len(BUILTIN_PREFIX):]
        raw = text.startswith(BUILTIN_PREFIX) and (
            self.tok.kind == "(" or rest in _BUILTIN_NAMES or rest in _REGISTERED_NAMES
            or _NUMBERED_BUILTIN.match(rest) is not None)
        if raw:
            # `__builtin_comm`, `__builtin_kstack(perf)`: bpftrace 0.26's
            # names under its standard library's macros
            text = text[len(BUILTIN_PREFIX):]
        if text == "container_of" and self.tok.kind == "(":
            return self.container_of(tok.span)
        if self.tok.kind == "(":
            self.advance()
            args = self.call_args()
            if not args and text in _CALLABLE_BUILTINS:
                node = ast.Builtin(self.span_from(tok.span), text)
                node.raw = raw
                return node
            return ast.Call(self.span_from(tok.span), text, args)
        if text in ("true", "false") and not raw:
            return ast.Bool(tok.span, text == "true")
        if is_builtin_name(text):
            node = ast.Builtin(tok.span, text)
            node.raw = raw
            return node
        if text in self.cpp.strings:
            return ast.String(tok.span, self.cpp.strings[text])
        return ast.Identifier(tok.span, text)

    def container_of(self, start: Span) -> ast.Expr:
        """``container_of(ptr, struct T, member.sub)``, the kernel's macro:
        the address of the struct T whose ``member`` ``ptr`` points to,
        ``(struct T *)((uint64)ptr - offsetof(struct T, member.sub))``."""
        self.advance()
        ptr = self.expr()
        self.expect(",")
        if not (self.starts_type() or self.tok.kind == lx.IDENT):  # or a typedef name
            raise self.error(("struct",))
        t = self.type_spec()
        self.expect(",")
        fields = self.field_path()
        span = self.span_from(start)
        offset = ast.Offsetof(span, t, None, fields)
        address = ast.Cast(ptr.span, ast.TypeSpec(ptr.span, "uint64"), ptr)
        target = ast.TypeSpec(t.span, t.name, t.pointer_depth + 1)
        return ast.Cast(span, target, ast.Binop(span, "-", address, offset))

    def call_args(self) -> list[ast.Expr]:
        """Arguments after '(' up to and including ')'."""
        args: list[ast.Expr] = []
        if self.accept(")"):
            return args
        while True:
            args.append(self.expr())
            if self.list_closed(")"):
                return args

    def map_expr(self) -> ast.Map:
        tok = self.advance()
        if self.tok.kind != "[":
            return ast.Map(tok.span, tok.value)
        self.advance()
        keys = [self.expr()]
        while self.accept(","):
            keys.append(self.expr())
        self.expect("]", ",")
        return ast.Map(self.span_from(tok.span), tok.value, keys, True)

    def paren(self) -> ast.Expr:
        start = self.advance().span
        if self.tok.kind == lx.IDENT and self.peek().kind == "=":
            return self.record(start)
        if self.accept(")"):
            return ast.Tuple(self.span_from(start), [])  # `()`, as bpftrace 0.26
        first = self.expr()
        if self.accept(")"):
            return first
        elems = [first]
        # a trailing comma is allowed, and makes `(1,)` a tuple of one
        while self.accept(",") and self.tok.kind != ")":
            elems.append(self.expr())
        self.expect(")", ",")
        return ast.Tuple(self.span_from(start), elems)

    def record(self, start: Span) -> ast.Record:
        fields: list[tuple[str, ast.Expr]] = []
        while True:
            name = self.expect(lx.IDENT).text
            self.expect("=")
            fields.append((name, self.expr()))
            if self.list_closed(")"):
                return ast.Record(self.span_from(start), fields)

    def block_expr(self) -> ast.BlockExpr:
        start = self.tok.span
        stmts, value = self.block(allow_value=True)
        if value is None:
            raise SyntaxErr("a block used as a value must end with an "
                            "expression", self.span_from(start))
        return ast.BlockExpr(self.span_from(start), stmts, value)

    def sizeof(self) -> ast.Sizeof:
        start = self.advance().span
        self.expect("(")
        if self.starts_type():
            node = ast.Sizeof(start, type_arg=self.type_spec())
        else:
            node = ast.Sizeof(start, expr=self.expr())
        self.expect(")")
        node.span = self.span_from(start)
        return node

    def offsetof(self) -> ast.Offsetof:
        start = self.advance().span
        self.expect("(")
        type_arg = expr = None
        if self.starts_type():
            type_arg = self.type_spec()
        else:
            expr = self.expr()
        self.expect(",")
        fields = self.field_path()
        return ast.Offsetof(self.span_from(start), type_arg, expr, fields)

    def field_path(self) -> list[str]:
        """``a.b.c)`` of offsetof and container_of, up to and with ')'."""
        fields = [self.field_name()]
        while self.accept("."):
            fields.append(self.field_name())
        self.expect(")", ".")
        return fields

    def field_name(self) -> str:
        if self.tok.kind != lx.IDENT and self.tok.kind not in lx.KEYWORDS:
            raise self.error((lx.IDENT,))
        return self.advance().text


def if_as_value(node: ast.If) -> ast.Expr | None:
    """The ternary an if statement stands for when each branch ends in a
    value (``if c { a } else if d { b } else { e }``), else None. The
    branches become block expressions: their variables stay theirs."""
    if not all(node.valued):
        return None

    def block(stmts: list[ast.Stmt]) -> ast.Expr:
        if len(stmts) == 1 and isinstance(stmts[0], ast.If):
            return if_as_value(stmts[0])
        last = stmts[-1]
        return ast.BlockExpr(stmts[0].span.to(last.span), stmts[:-1], last.expr)

    return ast.Ternary(node.span, node.cond, block(node.then), block(node.orelse))


def parse(source: Source | str) -> ast.Program:
    """Parse a whole script; raises SyntaxErr on bad input."""
    if isinstance(source, str):
        source = Source(source)
    try:
        program = Parser(source).program()
    except RecursionError:
        raise SyntaxErr("program nests too deeply to parse") from None
    # the parser counts what it opens; chains inside chains can still add up
    check_height(program, SyntaxErr)
    return program


def parse_expr(text: str) -> ast.Expr:
    """Parse a single expression (for tests and tools). Its spans are
    columns in a 'BEGIN { ... }' wrapper, 8 past the text's own."""
    p = Parser(Source(f"BEGIN {{ {text} }}"))
    try:
        prog = p.program()
    except RecursionError:
        raise SyntaxErr("expression nests too deeply to parse") from None
    body = prog.probes[0].body
    if len(body) != 1 or not isinstance(body[0], ast.ExprStmt):
        raise SyntaxErr("not a single expression")
    return body[0].expr
