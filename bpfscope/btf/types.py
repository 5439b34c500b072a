"""Decoded BTF types: one small frozen dataclass per kind.

A type object is what :meth:`Btf.type` returns. References to other types
are kept as type ids (ints), not objects, so decoding one type never decodes
the graph behind it; follow them with ``btf.type(t.type)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfscope.btf import kinds as K


@dataclass(frozen=True, slots=True)
class Type:
    """Common part: the type id, its kind number and name ('' if anonymous)."""

    id: int
    kind: int
    name: str

    @property
    def kind_name(self) -> str:
        return K.KIND_NAMES.get(self.kind, str(self.kind))


@dataclass(frozen=True, slots=True)
class Void(Type):
    """Type id 0: void (no record in the type section)."""


@dataclass(frozen=True, slots=True)
class Int(Type):
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


@dataclass(frozen=True, slots=True)
class Float(Type):
    size: int


@dataclass(frozen=True, slots=True)
class Ref(Type):
    """A kind that only points at another type: PTR, TYPEDEF, VOLATILE,
    CONST, RESTRICT, TYPE_TAG (the tag's text is ``name``)."""

    type: int


@dataclass(frozen=True, slots=True)
class Array(Type):
    type: int           # element type
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member. ``bit_offset`` is from the start of the
    containing struct; ``bitfield_size`` is 0 for a plain member."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int

    @property
    def offset(self) -> int:
        """Byte offset (rounded down for a bitfield)."""
        return self.bit_offset // 8


@dataclass(frozen=True, slots=True)
class Struct(Type):
    """STRUCT or UNION (``is_union``). ``kind_flag`` set means member offsets
    carry a bitfield size in their top 8 bits (already split in Member)."""

    size: int
    members: tuple[Member, ...]
    kind_flag: bool

    @property
    def is_union(self) -> bool:
        return self.kind == K.UNION


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum(Type):
    """ENUM (32-bit values) or ENUM64; ``signed`` is the kind_flag."""

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


@dataclass(frozen=True, slots=True)
class Fwd(Type):
    """A forward declaration: ``struct name;`` or ``union name;``."""

    is_union: bool


@dataclass(frozen=True, slots=True)
class Func(Type):
    type: int           # the FUNC_PROTO
    linkage: int        # K.FUNC_STATIC / GLOBAL / EXTERN


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: int


@dataclass(frozen=True, slots=True)
class FuncProto(Type):
    """A function signature. A trailing ``...`` is not kept in ``params``;
    it sets ``variadic`` (the format encodes it as a nameless void param)."""

    ret: int
    params: tuple[Param, ...]
    variadic: bool


@dataclass(frozen=True, slots=True)
class Var(Type):
    type: int
    linkage: int        # K.VAR_STATIC / GLOBAL_ALLOCATED / GLOBAL_EXTERN


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Datasec(Type):
    size: int
    vars: tuple[VarSecinfo, ...]


@dataclass(frozen=True, slots=True)
class DeclTag(Type):
    """``name`` is the tag text; ``component_idx`` -1 tags ``type`` itself,
    otherwise that member or parameter of it."""

    type: int
    component_idx: int
