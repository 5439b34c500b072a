"""Decoded BTF types: one small immutable record per kind.

A type object is what :meth:`Btf.type` returns. References to other types
are kept as type ids (ints), not objects, so decoding one type never decodes
the graph behind it; follow them with ``btf.type(t.type)``.

The classes are Records rather than dataclasses: twenty frozen
dataclasses cost about 14 ms to create at import, a third of this
package's start-up, while ``__slots__`` classes sharing one generic
constructor cost under 1 ms. Records are immutable (decoded types are
memoized and shared), compare and hash by value, and print like dataclasses.
"""

from __future__ import annotations

from bpfscope.btf import kinds as K


class Record:
    """A small immutable value: fields are the ``__slots__`` of the class
    and its bases, in base-first order, set positionally or by keyword."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._fields = tuple(f for c in reversed(cls.__mro__)
                            for f in c.__dict__.get("__slots__", ()))

    def __init__(self, *args, **kw):
        fields = self._fields
        if not kw and len(args) == len(fields):
            # The decoder's path: all fields, in order.
            for f, v in zip(fields, args):
                object.__setattr__(self, f, v)
            return
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields")
        values = dict(zip(fields, args))
        for k, v in kw.items():
            if k not in fields or k in values:
                raise TypeError(f"{type(self).__name__}: bad field {k!r}")
            values[k] = v
        if len(values) != len(fields):
            missing = [f for f in fields if f not in values]
            raise TypeError(f"{type(self).__name__} missing {', '.join(missing)}")
        for f, v in values.items():
            object.__setattr__(self, f, v)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash((type(self).__name__, *self._values()))

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


class Type(Record):
    """Common part: the type id, its kind number and name ('' if anonymous)."""

    __slots__ = ("id", "kind", "name")

    id: int
    kind: int
    name: str

    @property
    def kind_name(self) -> str:
        return K.KIND_NAMES.get(self.kind, str(self.kind))


class Void(Type):
    """Type id 0: void (no record in the type section)."""

    __slots__ = ()


class Int(Type):
    __slots__ = ("size", "encoding", "bits", "bit_offset")

    size: int           # bytes
    encoding: int       # K.INT_SIGNED | K.INT_CHAR | K.INT_BOOL
    bits: int           # value bits (may be less than size * 8)
    bit_offset: int     # offset of the value inside the storage, in bits

    @property
    def signed(self) -> bool:
        return bool(self.encoding & K.INT_SIGNED)

    @property
    def is_char(self) -> bool:
        return bool(self.encoding & K.INT_CHAR)

    @property
    def is_bool(self) -> bool:
        return bool(self.encoding & K.INT_BOOL)


class Float(Type):
    __slots__ = ("size",)

    size: int


class Ref(Type):
    """A kind that only points at another type: PTR, TYPEDEF, VOLATILE,
    CONST, RESTRICT, TYPE_TAG (the tag's text is ``name``)."""

    __slots__ = ("type",)

    type: int


class Array(Type):
    __slots__ = ("type", "index_type", "nelems")

    type: int           # element type
    index_type: int
    nelems: int


class Member(Record):
    """A struct/union member. ``bit_offset`` is from the start of the
    containing struct; ``bitfield_size`` is 0 for a plain member."""

    __slots__ = ("name", "type", "bit_offset", "bitfield_size")

    name: str
    type: int
    bit_offset: int
    bitfield_size: int

    @property
    def offset(self) -> int:
        """Byte offset (rounded down for a bitfield)."""
        return self.bit_offset // 8


class Struct(Type):
    """STRUCT or UNION (``is_union``). ``kind_flag`` set means member offsets
    carry a bitfield size in their top 8 bits (already split in Member)."""

    __slots__ = ("size", "members", "kind_flag")

    size: int
    members: tuple[Member, ...]
    kind_flag: bool

    @property
    def is_union(self) -> bool:
        return self.kind == K.UNION


class EnumValue(Record):
    __slots__ = ("name", "value")

    name: str
    value: int


class Enum(Type):
    """ENUM (32-bit values) or ENUM64; ``signed`` is the kind_flag."""

    __slots__ = ("size", "values", "signed")

    size: int
    values: tuple[EnumValue, ...]
    signed: bool

    def value_of(self, name: str) -> int | None:
        for v in self.values:
            if v.name == name:
                return v.value
        return None

    def name_of(self, value: int) -> str | None:
        for v in self.values:
            if v.value == value:
                return v.name
        return None


class Fwd(Type):
    """A forward declaration: ``struct name;`` or ``union name;``."""

    __slots__ = ("is_union",)

    is_union: bool


class Func(Type):
    __slots__ = ("type", "linkage")

    type: int           # the FUNC_PROTO
    linkage: int        # K.FUNC_STATIC / GLOBAL / EXTERN


class Param(Record):
    __slots__ = ("name", "type")

    name: str
    type: int


class FuncProto(Type):
    """A function signature. A trailing ``...`` is not kept in ``params``;
    it sets ``variadic`` (the format encodes it as a nameless void param)."""

    __slots__ = ("ret", "params", "variadic")

    ret: int
    params: tuple[Param, ...]
    variadic: bool


class Var(Type):
    __slots__ = ("type", "linkage")

    type: int
    linkage: int        # K.VAR_STATIC / GLOBAL_ALLOCATED / GLOBAL_EXTERN


class VarSecinfo(Record):
    __slots__ = ("type", "offset", "size")

    type: int
    offset: int
    size: int


class Datasec(Type):
    __slots__ = ("size", "vars")

    size: int
    vars: tuple[VarSecinfo, ...]


class DeclTag(Type):
    """``name`` is the tag text; ``component_idx`` -1 tags ``type`` itself,
    otherwise that member or parameter of it."""

    __slots__ = ("type", "component_idx")

    type: int
    component_idx: int
