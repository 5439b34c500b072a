"""AST node classes for the bpftrace language.

Every node carries a :class:`~bpfscope.errors.Span`. Nodes are plain
dataclasses. What later passes find out about a node (its type, a resolved
struct member, a symbol's address...) is declared here too, as an
:func:`annotation` field: not syntax, so walkers (:func:`syntax_fields`),
the printer and comparisons leave it alone.

The printer in :mod:`bpfscope.lang.printer` turns a tree back into source.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import Span


def annotation(default=None):
    """A field a pass after parsing fills in (scopes, sema): not set by the
    constructor, not compared, not printed, not walked."""
    return field(default=default, init=False, repr=False, compare=False,
                 metadata={"annotation": True})


@functools.cache
def _syntax_fields(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.name != "span" and not f.metadata.get("annotation"))


def syntax_fields(node) -> tuple[str, ...]:
    """The names of ``node``'s fields that hold the script itself (not its
    span, not annotations), in declaration order."""
    return _syntax_fields(type(node))


@dataclass(eq=False)
class Node:
    span: Span = field(repr=False, compare=False)


# --------------------------------------------------------------- expressions

@dataclass(eq=False)
class Expr(Node):
    # Filled in by sema: a bpfscope.sema.types.Type.
    type: Any = annotation()
    # sema: the value, where an integer constant was required (print's top
    # and div, strncmp's n, unroll's count, hist's bits ...)
    const_value: Optional[int] = annotation()


@dataclass(eq=False)
class Integer(Expr):
    value: int
    # The literal as written ("1_000", "5ms", "0x10"), for printing back.
    text: str = ""
    # True when a suffix like u/l/ul forced unsigned: bpftrace has none, kept for future.


@dataclass(eq=False)
class String(Expr):
    value: str  # escapes already decoded; a raw byte >= 0x80 as a surrogate


def raw_byte(b: int) -> str:
    """The character a string holds for byte ``b``: itself below 0x80,
    else the surrogate that surrogateescape writes back as that one byte
    (``"\\xff"`` is the byte 0xff, as in bpftrace, not UTF-8's c3 bf)."""
    return chr(b) if b < 0x80 else chr(0xDC00 + b)


def string_bytes(value: str) -> bytes:
    """The bytes of a string value: UTF-8, raw bytes kept raw
    (UnicodeEncodeError for a surrogate that stands for no byte)."""
    return value.encode("utf-8", "surrogateescape")


@dataclass(eq=False)
class Bool(Expr):
    value: bool


@dataclass(eq=False)
class Builtin(Expr):
    """pid, tid, comm, nsecs, args, retval, arg0, probe, curtask, $# ..."""
    name: str
    # sema: the kernel structure offsets it reads (ppid: task_struct's
    # real_parent and tgid, from the running kernel's BTF)
    kernel: tuple = annotation(())
    # parser: written ``__builtin_NAME`` (bpftrace 0.26's own name for it,
    # which no user macro called NAME replaces)
    raw: bool = annotation(False)
    # sema: ``args`` used as a value (print(args), @[args]): its fields,
    # each a typed ``args.NAME``, in the order of the record type
    record: tuple = annotation(())
    # sema: how usermode is known in this probe: 'regs' (the saved cs in
    # the context's pt_regs), 'user' (always: BEGIN/END run from bpfscope's
    # own system call), 'kernel' (never: a tracepoint, fentry)
    mode: str = annotation("")


@dataclass(eq=False)
class PositionalParam(Expr):
    """$1, $2 ... ; ``$#`` is PositionalCount."""
    index: int


@dataclass(eq=False)
class PositionalCount(Expr):
    pass


@dataclass(eq=False)
class Variable(Expr):
    """A scratch variable, ``$name`` (name stored without the '$').

    ``binding`` tells variables of one name apart once macro hygiene and
    block scopes are resolved (sema.scopes); storage and types are keyed on
    :attr:`key`, messages use ``name``."""
    name: str
    binding: str = annotation("")

    @property
    def key(self) -> str:
        return self.binding or self.name


@dataclass(eq=False)
class Map(Expr):
    """``@name`` (name without '@'; '' for the anonymous map ``@``).

    ``keys`` is the list of key expressions in ``@m[k1, k2]``; empty for
    ``@m``. A tuple written as ``@m[(a, b)]`` is one Tuple key.
    """
    name: str
    keys: list[Expr] = field(default_factory=list)
    has_brackets: bool = False  # @m[] vs @m, for printing back

    @property
    def ident(self) -> str:
        """The map's name with its '@', as users and errors spell it."""
        return "@" + self.name


@dataclass(eq=False)
class Call(Expr):
    """``name(args)``: printf, count, str, hist ... and user fns."""
    name: str
    args: list[Expr] = field(default_factory=list)
    # sema: kaddr()'s address, uaddr()'s resolution (sema.uaddr)
    kaddr: Optional[int] = annotation()
    uaddr: Any = annotation()
    # sema: the BTF id of the kernel function it calls (strstr's
    # bpf_strnstr, len()'s bpf_map_sum_elem_count); None: the kernel has none
    kfunc: Optional[int] = annotation()
    # sema: the call is a statement of its own, its value dropped
    # (delete()'s failure is then worth a -k warning)
    discarded: bool = annotation(False)


@dataclass(eq=False)
class Sizeof(Expr):
    """sizeof(type) or sizeof(expr): exactly one of the two is set."""
    type_arg: Optional["TypeSpec"] = None
    expr: Optional[Expr] = None
    size: int = annotation(0)  # sema: the size in bytes


@dataclass(eq=False)
class Offsetof(Expr):
    """offsetof(struct Foo, a.b) or offsetof($x, a)."""
    type_arg: Optional["TypeSpec"]
    expr: Optional[Expr]
    fields: list[str]
    size: int = annotation(0)  # sema: the offset in bytes


@dataclass(eq=False)
class Binop(Expr):
    """op is the C token: + - * / % & | ^ << >> == != < <= > >= && ||"""
    op: str
    left: Expr
    right: Expr
    # sema: pointer + int steps by the pointed-to type's size
    scale: int = annotation(1)


@dataclass(eq=False)
class Unop(Expr):
    """op is one of: ! ~ - + * (deref) & (address of)
    ++ -- (with ``postfix`` telling which side)."""
    op: str
    operand: Expr
    postfix: bool = False


@dataclass(eq=False)
class Ternary(Expr):
    cond: Expr
    then: Expr
    orelse: Expr


@dataclass(eq=False)
class FieldAccess(Expr):
    """``expr.field`` or ``expr->field`` (arrow=True). Tuple ``.0`` has
    field '0'."""
    expr: Expr
    field: str
    arrow: bool = False
    member: Any = annotation()  # sema: the struct member (btf), when it is one


@dataclass(eq=False)
class Index(Expr):
    """``expr[index]`` on arrays, pointers, tuples."""
    expr: Expr
    index: Expr


@dataclass(eq=False)
class Cast(Expr):
    type_spec: "TypeSpec"
    expr: Expr


@dataclass(eq=False)
class Tuple(Expr):
    elems: list[Expr]


@dataclass(eq=False)
class Record(Expr):
    """Named tuple ``(a=1, b="x")``: fields in source order."""
    fields: list[tuple[str, Expr]]


@dataclass(eq=False)
class BlockExpr(Expr):
    """``{ stmt; stmt; expr }`` used as a value."""
    stmts: list["Stmt"]
    value: Expr


@dataclass(eq=False)
class InlineCall(Expr):
    """A call of a user function (``fn``) with the function's body pasted
    in (lang.userfuncs): ``params`` are variables set from ``args`` on
    entry, then ``body`` runs; ``return v`` in it ends the call with v.
    Prints back as the call that was written."""
    name: str
    args: list[Expr]
    params: list[tuple["Variable", "TypeSpec"]]
    return_type: Optional["TypeSpec"]
    body: list["Stmt"]


@dataclass(eq=False)
class Identifier(Expr):
    """A bare name that is not a builtin (an enum value, a type name in
    sizeof, a macro parameter). Sema decides what it is."""
    name: str
    value: Optional[int] = annotation()  # sema: an enum value's


# ---------------------------------------------------------------- types

@dataclass(eq=False)
class TypeSpec(Node):
    """A type as written: ``int32``, ``string[16]``, ``struct task_struct *``,
    ``uint8[4]``, ``bool``, ``inet``.

    name: base name ('int32', 'struct task_struct', 'union u', 'enum e').
    pointer_depth: number of '*'. array_size: for 'T[N]' forms, 0 for 'T[]'
    (a cast that takes the size from its operand), else None.
    """
    name: str
    pointer_depth: int = 0
    array_size: Optional[int] = None


# ---------------------------------------------------------------- statements

@dataclass(eq=False)
class Stmt(Node):
    pass


@dataclass(eq=False)
class ExprStmt(Stmt):
    """An expression evaluated for its effect; ``discard`` when written
    ``_ = expr;`` (bpftrace's way to drop a value without a warning)."""
    expr: Expr
    discard: bool = False


@dataclass(eq=False)
class AssignMap(Stmt):
    """``@m[k] = v`` or compound ``@m[k] += v`` (op is '=' or '+=', ...)."""
    map: Map
    value: Expr
    op: str = "="


@dataclass(eq=False)
class AssignVar(Stmt):
    """``$x = v`` or ``$x += v``."""
    var: Variable
    value: Expr
    op: str = "="


@dataclass(eq=False)
class VarDecl(Stmt):
    """``let $x;`` ``let $x: type;`` ``let $x = v;`` ``let $x: type = v;``"""
    var: Variable
    type_spec: Optional[TypeSpec] = None
    value: Optional[Expr] = None


@dataclass(eq=False)
class If(Stmt):
    cond: Expr
    then: list[Stmt]
    orelse: Optional[list[Stmt]] = None  # an 'else if' is a list of one If
    # parser: which branches end in an expression without ';' (the value
    # of the branch when the if is used as a value: parser.if_value)
    valued: tuple[bool, bool] = annotation((False, False))


@dataclass(eq=False)
class Unroll(Stmt):
    count: Expr
    body: list[Stmt]
    # parser: `unroll (N)` without the body, where errors about N point
    head: Optional[Span] = annotation()


@dataclass(eq=False)
class While(Stmt):
    cond: Expr
    body: list[Stmt]


@dataclass(eq=False)
class ForMap(Stmt):
    """``for ($kv : @map) { ... }``"""
    var: Variable
    map: Map
    body: list[Stmt]


@dataclass(eq=False)
class ForRange(Stmt):
    """``for ($i : start..end) { ... }`` (end exclusive)."""
    var: Variable
    start: Expr
    end: Expr
    body: list[Stmt]
    # sema: the kernel has bpf_loop (Linux 5.17), which a range whose
    # bounds are not literals runs its body through; without it the range
    # stays an inline loop, which the verifier takes where it can bound it
    kernel_loop: bool = annotation(True)


@dataclass(eq=False)
class Jump(Stmt):
    """break, continue, return (with optional value)."""
    kind: str  # 'break' | 'continue' | 'return'
    value: Optional[Expr] = None


@dataclass(eq=False)
class Block(Stmt):
    """A nested ``{ ... }`` in statement position."""
    stmts: list[Stmt]


# ---------------------------------------------------------------- top level

@dataclass(eq=False)
class AttachPoint(Node):
    """One attach point as written, e.g. ``tracepoint:syscalls:sys_enter_*``.

    ``raw`` is the text exactly as written (quotes kept); ``parts`` splits it
    at ':' outside quotes with quotes removed: ['tracepoint', 'syscalls',
    'sys_enter_*']. BEGIN/END give ['BEGIN'] / ['END'].
    """
    raw: str
    parts: list[str]


@dataclass(eq=False)
class Probe(Node):
    attach_points: list[AttachPoint]
    predicate: Optional[Expr]
    body: list[Stmt]
    scopes_resolved: bool = annotation(False)  # sema.scopes ran on it


@dataclass(eq=False)
class ConfigBlock(Node):
    """``config = { key = value; ... }``: values are Integer, String, Bool
    or Identifier nodes; ``spans[i]`` covers item i's ``key = value``
    (for errors that name a key)."""
    items: list[tuple[str, Expr]]
    spans: list = field(default_factory=list, repr=False, compare=False)


@dataclass(eq=False)
class MapDecl(Node):
    """``let @name = kind(args...);`` e.g. ``let @a = lruhash(100);``"""
    name: str
    kind: str
    args: list[Expr]


@dataclass(eq=False)
class Macro(Node):
    """``macro name(params) { stmts; [expr] }``: params keep their sigil
    ('$a', '@m' or bare 'a')."""
    name: str
    params: list[str]
    body: BlockExpr | list[Stmt]


@dataclass(eq=False)
class Subprog(Node):
    """``fn name($a: type, ...): rettype { ... }``"""
    name: str
    params: list[tuple[str, TypeSpec]]
    return_type: Optional[TypeSpec]
    body: list[Stmt]


@dataclass(eq=False)
class CDefinition(Node):
    """A C struct/union/enum definition or #include/#define line at the top
    of the script, kept as raw text for the type layer."""
    text: str


@dataclass(eq=False)
class Import(Node):
    """``import "path";``"""
    path: str


@dataclass(eq=False)
class Program(Node):
    config: Optional[ConfigBlock] = None
    c_definitions: list[CDefinition] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    map_decls: list[MapDecl] = field(default_factory=list)
    macros: list[Macro] = field(default_factory=list)
    subprogs: list[Subprog] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)


def walk(node: Any):
    """Yield node and every Node below it, depth first, in field order."""
    if isinstance(node, Node):
        yield node
        for name in syntax_fields(node):
            yield from walk(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)


def replace_exprs(node: Node, fn) -> None:
    """Set each expression directly below ``node`` (in a field, a list or a
    tuple, looking through statements and other nodes that are not
    expressions) to ``fn(expr)``; ``fn`` decides whether to go deeper."""
    for name in syntax_fields(node):
        setattr(node, name, _replaced(getattr(node, name), fn))


def _replaced(val, fn):
    if isinstance(val, Expr):
        return fn(val)
    if isinstance(val, Node):
        replace_exprs(val, fn)
    elif isinstance(val, list):
        return [_replaced(x, fn) for x in val]
    elif isinstance(val, tuple):
        return tuple(_replaced(x, fn) for x in val)
    return val
