"""The table of builtin functions: one :class:`Function` record per name.

A record says everything bpfscope knows about one function: how its
arguments are checked and what type the call has (``check``, run by the
analyser), and how it is lowered (``lower`` for a value in a register,
``store`` for a value written into memory, ``emit`` for a statement that
gives no value, all run by codegen), and what user space does with the
ring buffer records it sends (``on_record``, run by runtime.session). How
a value decodes and prints is the business of the type ``check`` returns
(sema.types), and of the decoder runtime.decode holds for that type's
class.

An aggregation (``@m[k] = count()``, ``sum``, ``hist`` ...) is not a value
but an update of a per-CPU map entry: it is an :class:`Aggregation`
record, in the same table's second half, whose lowering pieces
codegen.lower_maps runs inside its shared lookup-then-update sequence.

A builtin variable (a value written without parentheses: ``pid``,
``comm``, ``arg0``, ``retval``) is a :class:`BuiltinVar` record: its check
and type, and its lowering, which sema's and codegen's ``builtin()`` find
by the name (or by a pattern, ``arg\\d+``).

The records live in the family modules of :mod:`bpfscope.functions`, a
unit placed after runtime in the layer order, so a record may use codegen
and runtime while sema, codegen and runtime only ever see it through this
table (the callables are opaque to them). Importing
:mod:`bpfscope.functions` registers every family; api.compile_script does
so, and so does tests/conftest.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..lang import parser


@dataclass(frozen=True)
class Function:
    name: str
    # (analyzer, call) -> Type: checks the arguments (raising a located
    # SemanticError) and gives the type of the call
    check: Callable
    # (lowering, call) -> codegen Int: the value in a register
    lower: Callable | None = None
    # (lowering, call, dst Mem, type) -> None: writes a value held in memory
    store: Callable | None = None
    # (lowering, call) -> None: lowered as a statement; the call has no value
    emit: Callable | None = None
    # event kind -> (session, EventSpec, record bytes) -> None: what user
    # space does with a ring buffer record of that kind the lowering sent
    on_record: Mapping[str, Callable] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Aggregation:
    """``@m[k] = name(args)``: what the map entry holds and how one event
    updates it. codegen evaluates the first argument (``arg``, an Int or
    None), looks the entry up, and calls ``add`` when it is there and
    ``first`` when it is not; ``spec`` is the codegen MapSpec."""
    name: str
    # (analyzer, call) -> AggType: checks the arguments, types the entry
    check: Callable
    # (lowering, entry pointer VReg, arg, scratch VReg, spec) -> None
    add: Callable
    # (lowering, value Mem, arg, spec) -> None: the entry's first value
    first: Callable
    # (lowering, arg VReg, AggType params) -> VReg: an index appended to
    # the kernel key, one entry per bucket (hist, lhist)
    bucket: Callable | None = None
    # reading the entry in BPF (``@m[k]`` in an expression), merged over
    # the CPUs: (lowering, entry pointer, accumulator, aux, scratch, label
    # of the next CPU, signed) folds one CPU's entry in; ``aux`` starts at 0
    merge: Callable | None = None
    # (lowering, accumulator, aux, signed) -> None: after the last CPU
    finish: Callable | None = None
    # (the CPUs' entry bytes, signed) -> value: user space's merge of an
    # entry read back (runtime.mapread); None adds up their first 8 bytes
    combine: Callable | None = None
    # (entry value or None, the argument, AggType params) -> value: one
    # update of an entry kept in user space (runtime.usermap: a map keyed
    # by dw_ustack()); None: such a map cannot hold this aggregation
    fold: Callable | None = None

    @property
    def bucketed(self) -> bool:
        """Whether the map holds one entry per bucket (a histogram)."""
        return self.bucket is not None

    @property
    def readable(self) -> bool:
        """Whether a script may read the entry as an integer."""
        return self.merge is not None


@dataclass(frozen=True)
class BuiltinVar:
    """A builtin variable: ``pid``, ``comm``, ``retval``, or with
    ``pattern`` every name the regular expression ``name`` matches whole
    (``arg\\d+``). The parser makes an ``ast.Builtin`` of the names of
    bpftrace's language; registering another name adds it to them."""
    name: str
    # (analyzer, ast.Builtin) -> Type: checks the variable may be used in
    # this probe (raising a located SemanticError) and gives its type
    check: Callable
    # (lowering, ast.Builtin) -> codegen Int: the value in a register
    lower: Callable | None = None
    # (lowering, ast.Builtin, dst Mem, type) -> None: writes a value held
    # in memory (a string, a stack, a record)
    store: Callable | None = None
    pattern: bool = False
    # reads the probe's arguments from its context, which bpftrace does not
    # hand to the body of a for-map loop (argN, sargN, retval, args)
    reads_args: bool = False


FUNCTIONS: dict[str, Function] = {}
AGGREGATIONS: dict[str, Aggregation] = {}
EVENTS: dict[str, Callable] = {}
BUILTINS: dict[str, BuiltinVar] = {}
# (compiled pattern, record), in the order registered
BUILTIN_PATTERNS: list[tuple[re.Pattern, BuiltinVar]] = []


def register(*records: Function | Aggregation | BuiltinVar) -> None:
    """Add records to the table; a name or event kind registered twice is
    a bug."""
    for f in records:
        if isinstance(f, BuiltinVar):
            _register_builtin(f)
            continue
        if FUNCTIONS.get(f.name, f) is not f or AGGREGATIONS.get(f.name, f) is not f:
            raise ValueError(f"function {f.name}() is registered twice")
        if isinstance(f, Aggregation):
            AGGREGATIONS[f.name] = f
            continue
        for kind, handler in f.on_record.items():
            if EVENTS.get(kind, handler) is not handler:
                raise ValueError(f"event kind {kind!r} of {f.name}() is registered twice")
        FUNCTIONS[f.name] = f
        EVENTS.update(f.on_record)


def _register_builtin(v: BuiltinVar) -> None:
    if v.pattern:
        if any(p.pattern == v.name for p, _ in BUILTIN_PATTERNS):
            raise ValueError(f"builtin {v.name} is registered twice")
        BUILTIN_PATTERNS.append((re.compile(v.name), v))
        return
    if BUILTINS.get(v.name, v) is not v:
        raise ValueError(f"builtin {v.name} is registered twice")
    BUILTINS[v.name] = v
    parser.add_builtin_name(v.name)


def register_event(kind: str, handler: Callable) -> None:
    """A record kind user space handles that no one function sends (the
    updates of a map kept in user space, which any aggregation makes)."""
    if EVENTS.get(kind, handler) is not handler:
        raise ValueError(f"event kind {kind!r} is registered twice")
    EVENTS[kind] = handler


def unregister(name: str) -> None:
    """Remove a record (tests that register a toy function or builtin
    variable of their own)."""
    AGGREGATIONS.pop(name, None)
    if BUILTINS.pop(name, None) is not None:
        parser.remove_builtin_name(name)
    BUILTIN_PATTERNS[:] = [(p, v) for p, v in BUILTIN_PATTERNS if v.name != name]
    f = FUNCTIONS.pop(name, None)
    for kind in f.on_record if f is not None else ():
        EVENTS.pop(kind, None)


def lookup(name: str) -> Function | None:
    return FUNCTIONS.get(name)


def builtin(name: str) -> BuiltinVar | None:
    """The record of the builtin variable ``name``: by its name, else the
    first pattern that matches it whole."""
    v = BUILTINS.get(name)
    if v is None:
        v = next((v for p, v in BUILTIN_PATTERNS if p.fullmatch(name)), None)
    return v


def aggregation(name: str) -> Aggregation | None:
    return AGGREGATIONS.get(name)


def event_handler(kind: str) -> Callable | None:
    """The user-space half of the function that sends records of ``kind``."""
    return EVENTS.get(kind)
