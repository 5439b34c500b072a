"""Types of bpftrace values and how they are laid out in BPF memory.

Layout rule (shared by the code generator, which writes values, and by the
runtime, which decodes them): integers always occupy 8 bytes, sign- or
zero-extended to 64 bits; strings occupy their full declared size, NUL
padded; tuples are their elements in order, each element starting on an
8-byte boundary. One rule everywhere keeps keys comparable byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import valuetext


def align8(n: int) -> int:
    return (n + 7) & ~7


class Type:
    """Base class. ``size`` is the number of bytes a value takes in a map
    key, map value, tuple or event record."""

    size = 8

    def is_int(self) -> bool:
        return False

    def is_string(self) -> bool:
        return False

    def show_bytes(self, data: bytes, off: int) -> tuple[str, bytes] | None:
        """The text a value of this type prints as and its raw bytes, for
        the types that print as text; None for the others, which
        runtime.decode decodes by their layout."""
        return None


@dataclass(frozen=True)
class IntType(Type):
    bits: int = 64
    signed: bool = True

    size = 8
    # JSON writes a value that prints as text as its number, unless the
    # type is a string in bpftrace 0.26 (syscall_name, cgroup_path)
    json_text = False

    def is_int(self) -> bool:
        return True

    def show(self, v: int) -> str | None:
        """The text the raw 64-bit slot ``v`` prints as, for integers that
        print as text (a user name, a time, a symbol); None for numbers."""
        return None

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.bits}"


@dataclass(frozen=True)
class BoolType(IntType):
    bits: int = 8
    signed: bool = False

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class PointerType(IntType):
    """A pointer into kernel or user memory: an unsigned 64-bit number that
    remembers what it points to (``target`` as C text) and where."""
    bits: int = 64
    signed: bool = False
    target: str = "void"
    user: bool = False
    # kptr(): known to point into kernel memory (user=False alone means
    # "not known to be a user pointer")
    kernel: bool = field(default=False, compare=False)
    # (BTF object name, type id) of what it points to, when BTF said so;
    # otherwise the target is looked up by name (sema.typelib).
    ref: tuple = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.target} *"


@dataclass(frozen=True)
class UsernameType(IntType):
    """A uid that prints as the user's name (the username builtin)."""
    bits: int = 32
    signed: bool = False

    def show(self, v: int) -> str:
        return valuetext.username(v)

    def __str__(self) -> str:
        return "username"


@dataclass(frozen=True)
class TimestampType(IntType):
    """Nanoseconds of CLOCK_MONOTONIC printed as local time with
    ``fmt`` (strftime); bpftrace's ``%f`` adds microseconds."""
    bits: int = 64
    signed: bool = False
    fmt: str = ""
    # 0.26 keeps a timestamp apart from the symbolic values: JSON writes
    # its text ("12/03/26"), not its nanoseconds
    json_text = True

    def show(self, v: int) -> str:
        return valuetext.format_timestamp(self.fmt, v)

    def __str__(self) -> str:
        return "timestamp"


@dataclass(frozen=True)
class SymbolicInt(IntType):
    """An integer printed by user space as text: ``what`` says how
    ('strerror' an errno, 'ksym' a kernel address)."""
    bits: int = 64
    signed: bool = True
    what: str = ""

    def show(self, v: int) -> str:
        v &= (1 << self.bits) - 1
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return valuetext.symbolic_text(self.what, v)

    @property
    def json_text(self) -> bool:
        return self.what in ("syscall_name", "strerror")   # strings in 0.26

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class CgroupPathType(IntType):
    """cgroup_path(id[, filter]): a cgroup id that user space prints as its
    path in each mounted hierarchy whose name matches ``filter``
    (``unified:/user.slice,memory:/user.slice``), looked up when printed."""
    bits: int = 64
    signed: bool = False
    filter: str = "*"
    json_text = True

    def show(self, v: int) -> str:
        return valuetext.cgroup_path_text(v & ((1 << 64) - 1), self.filter)

    def __str__(self) -> str:
        return "cgroup_path_t"


@dataclass(frozen=True)
class EnumType(IntType):
    """A value of an enum (an enumerator, a variable or map holding one, a
    cast to ``enum NAME``): an integer that prints as the name of the
    enumerator holding it, or as the number when none does (bpftrace 0.26:
    ``print(ONE)``, ``printf("%s", ONE)``, ``@[ONE]``). Arithmetic on it
    gives a plain integer."""
    bits: int = 64
    signed: bool = True
    name: str = ""         # the enum's tag; "" for an anonymous enum
    values: tuple = ()     # (enumerator, value) pairs, in declaration order

    def show(self, v: int) -> str | None:
        v &= (1 << self.bits) - 1
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        for name, value in self.values:
            if value == v:
                return name
        return None

    def __str__(self) -> str:
        return f"enum {self.name}" if self.name else IntType.__str__(self)


@dataclass(frozen=True)
class UserSymType(Type):
    """usym(addr): an address in the current process and that process's
    pid, printed as the symbol the address falls in."""
    size = 16

    def __str__(self) -> str:
        return "usym"


@dataclass(frozen=True)
class InetType(Type):
    """An IP address from ntop(): the address family, then 16 bytes of
    address (4 used for IPv4); printed as text in user space."""
    size = 24

    def show_bytes(self, data: bytes, off: int) -> tuple[str, bytes]:
        family = int.from_bytes(data[off:off + 8], "little")
        raw = data[off + 8:off + 24]
        return valuetext.inet_text(family, raw), raw

    def __str__(self) -> str:
        return "inet"


@dataclass(frozen=True)
class BufferType(Type):
    """Raw bytes from buf(): an 8-byte count of the bytes read, then
    ``length`` bytes of room for them; printed with non-text bytes as
    ``\\xNN``."""
    length: int = 64

    @property
    def size(self) -> int:  # type: ignore[override]
        return 8 + self.length

    def __str__(self) -> str:
        return f"buffer[{self.length}]"


@dataclass(frozen=True)
class MacAddrType(Type):
    """macaddr(): six bytes printed as ``XX:XX:XX:XX:XX:XX``."""
    size = 6

    def show_bytes(self, data: bytes, off: int) -> tuple[str, bytes]:
        raw = bytes(data[off:off + 6])
        return valuetext.mac_text(raw), raw

    def __str__(self) -> str:
        return "macaddr_t"


@dataclass(frozen=True)
class StringType(Type):
    """A NUL-terminated string in a buffer of ``length`` bytes."""
    length: int = 64

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.length

    def is_string(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"string[{self.length}]"


@dataclass(frozen=True)
class TupleType(Type):
    elems: tuple = ()
    names: tuple | None = None  # record field names, None for a tuple

    @property
    def offsets(self) -> list[int]:
        out, off = [], 0
        for e in self.elems:
            out.append(off)
            off += align8(e.size)
        return out

    @property
    def size(self) -> int:  # type: ignore[override]
        return sum(align8(e.size) for e in self.elems)

    def __str__(self) -> str:
        if self.names:
            inner = ", ".join(f"{n}={e}" for n, e in zip(self.names, self.elems))
        else:
            inner = ",".join(str(e) for e in self.elems)
        return f"({inner})"


@dataclass(frozen=True)
class StackType(Type):
    """kstack/ustack: the frames themselves, as bpf_get_stack wrote them
    (at most ``limit``, leaf first, the rest zero), after a header: the
    number of frames, and for user stacks the pid whose address space
    gives them meaning. Keeping the frames in the value (not an id into a
    stack-trace map, whose buckets collide and which stores whole stacks)
    makes equal stacks equal keys, so ``@[ustack(2)] = count()`` adds up
    every call whose first two frames agree. Symbolized in user space.
    ``mode`` is bpftrace's stack mode (bpftrace, perf, raw, build_id: the
    kernel writes each frame as a ``struct bpf_stack_build_id``, its
    file's build id and the offset into it, ``elem`` bytes a frame).

    ``ids``: in the key of a map only the kernel updates (codegen.stackids)
    the header is all there is: the frame count's slot holds an id from
    bpf_get_stackid into the stack-trace map of this kind, limit and mode
    (negative: no stack), read back by user space when it prints."""
    kind: str = "kernel"
    limit: int = 127
    mode: str = "bpftrace"
    ids: bool = False

    BUILD_ID_FRAME = 32  # struct bpf_stack_build_id

    @property
    def elem(self) -> int:
        """Bytes of one frame."""
        return self.BUILD_ID_FRAME if self.mode == "build_id" else 8

    @property
    def header(self) -> int:
        """Bytes before the frames: the frame count (and the pid)."""
        return 16 if self.kind == "user" else 8

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.header if self.ids else self.header + self.elem * self.limit

    def __str__(self) -> str:
        return f"{'k' if self.kind == 'kernel' else 'u'}stack"


@dataclass(frozen=True)
class Member:
    """A member of a C struct or union: ``offset`` in bytes from the start
    of the struct; a bitfield also has ``bit_offset`` (counted from
    ``offset``) and ``bits`` (0 for an ordinary member)."""
    name: str
    offset: int
    type: Type
    bit_offset: int = 0
    bits: int = 0


@dataclass(frozen=True)
class DwStackType(Type):
    """dw_ustack(): what unwinding a user stack by DWARF call frame
    information needs, unwound in user space (runtime.unwind): the pid,
    the number of stack bytes copied, the registers the walk starts from
    (rip, rsp, rbp, rbx, r12-r15) and ``copy`` bytes of the stack from rsp
    up. Printed as ``ustack`` of that ``mode`` and ``limit`` prints."""
    limit: int = 127
    mode: str = "bpftrace"
    copy: int = 8192

    HEADER = 16 + 8 * 8

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.HEADER + self.copy

    def __str__(self) -> str:
        return "dw_ustack"


@dataclass(frozen=True)
class StructType(Type):
    """A C struct or union (from the kernel's BTF or defined in the
    script), laid out as C lays it out: values are the raw bytes.
    ``ref`` is (BTF object name, type id) for kernel types; a struct the
    script defines carries its ``members`` instead."""
    name: str = ""
    nbytes: int = 0
    ref: tuple = ()
    members: tuple = field(default=(), compare=False)
    user: bool = field(default=False, compare=False)   # lives in user memory

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.nbytes

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ArrayType(Type):
    """A C array of ``count`` elements of ``elem``, each ``elem_size``
    bytes, packed as C packs it (a struct member, a tracepoint array
    field, pton's address bytes, an array cast); printed as ``[1,2,3]``.
    ``elem_size`` defaults to the element's C size."""
    elem: Type = IntType(8, False)
    count: int = 0
    elem_size: int = 0
    user: bool = field(default=False, compare=False)   # lives in user memory

    def __post_init__(self):
        if not self.elem_size:
            object.__setattr__(self, "elem_size", c_size(self.elem))

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.elem_size * self.count

    def __str__(self) -> str:
        return f"{self.elem}[{self.count}]"


def c_size(t: Type) -> int:
    """Bytes a value of ``t`` takes inside a C struct or array."""
    if isinstance(t, BoolType):
        return 1
    if isinstance(t, PointerType):
        return 8
    if isinstance(t, IntType):
        return t.bits // 8
    return t.size


@dataclass(frozen=True)
class FloatType(Type):
    """A C float or double member of a script-defined struct: bpftrace
    0.26 lays it out but holds no floating-point values; a struct
    printed with one shows it as null."""
    nbytes: int = 4

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.nbytes

    def __str__(self) -> str:
        return "none"


@dataclass(frozen=True)
class VoidType(Type):
    size = 0

    def __str__(self) -> str:
        return "none"


@dataclass(frozen=True)
class AggType(Type):
    """The value of an aggregating map function: count(), sum(), hist() ...
    ``kind`` names it; ``signed`` keeps the signedness of the summed
    values; ``params`` holds lhist's (min, max, step) and hist's k."""
    kind: str = "count"
    signed: bool = True
    params: tuple = ()

    @property
    def size(self) -> int:  # type: ignore[override]
        # avg and stats keep (count, total); min/max keep (value, is-set);
        # a tseries slot (value, timestamp or count, interval number)
        if self.kind == "tseries":
            return 24
        return 16 if self.kind in ("avg", "stats", "min", "max") else 8

    def __str__(self) -> str:
        return f"{self.kind}_t"


@dataclass(frozen=True)
class ArgsType(Type):
    """The ``args`` builtin of a probe: a record of typed fields."""
    probe: str = ""
    size = 0

    def __str__(self) -> str:
        return "args"


INT64 = IntType(64, True)
UINT64 = IntType(64, False)
UINT8 = IntType(8, False)
UINT32 = IntType(32, False)
INT32 = IntType(32, True)
BOOL = BoolType()
VOID = VoidType()

_INT_NAMES = {f"{'u' if not s else ''}int{b}": IntType(b, s)
              for b in (8, 16, 32, 64) for s in (True, False)}


def int_type_named(name: str) -> IntType | None:
    if name == "bool":
        return BOOL
    return _INT_NAMES.get(name)


def unify(a: Type, b: Type) -> Type | None:
    """The type a map or variable holding both ``a`` and ``b`` takes, or
    None when they cannot share storage. Strings and tuples widen."""
    if a == b:
        return a
    if isinstance(a, StringType) and isinstance(b, StringType):
        return StringType(max(a.length, b.length))
    if isinstance(a, BufferType) and isinstance(b, BufferType):
        return BufferType(max(a.length, b.length))
    if a.is_int() and b.is_int() and not isinstance(a, AggType):
        if isinstance(a, PointerType) or isinstance(b, PointerType):
            return a if isinstance(a, PointerType) else b
        bits = max(a.bits, b.bits)
        return IntType(bits, a.signed and b.signed) if a.signed == b.signed else IntType(bits, a.signed or b.signed)
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elems) == len(b.elems) \
            and (a.names == b.names or a.names and b.names and set(a.names) == set(b.names)):
        # records with the same fields in another order are one type, in
        # the order of the first (bpftrace 0.26)
        order = [b.names.index(n) for n in a.names] if a.names else range(len(b.elems))
        elems = [unify(x, b.elems[i]) for x, i in zip(a.elems, order)]
        if all(e is not None for e in elems):
            return TupleType(tuple(elems), a.names)
    if isinstance(a, AggType) and isinstance(b, AggType) and a.kind == b.kind and a.params == b.params:
        return AggType(a.kind, a.signed and b.signed, a.params)
    return None


def type_name(t: Type) -> str:
    """The type as bpftrace's error messages name it."""
    return str(t)
