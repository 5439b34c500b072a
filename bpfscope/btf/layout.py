"""Type resolution, sizes and struct member lookup.

C lets a struct hold anonymous structs and unions whose members are reached
as if they were the outer struct's own (``task_struct`` has several), so
member lookup descends into nameless members and adds up their offsets.
Offsets are kept in bits until the end because bitfields are not byte
aligned.
"""

from __future__ import annotations

import re
from bpfscope.btf import kinds as K
from bpfscope.btf.errors import BtfError
from bpfscope.btf.types import Record

# Deeper chains than this are a cycle in corrupt data, not a real type.
_MAX_DEPTH = 64


class Field(Record):
    """A member reached from some outer struct.

    ``bit_offset`` counts from the start of that outer struct (anonymous
    containers on the way are summed in); ``bitfield_size`` is 0 unless the
    member is a bitfield; ``type`` is the member's own (unresolved) type id.
    """

    __slots__ = ("name", "type", "bit_offset", "bitfield_size")

    name: str
    type: int
    bit_offset: int
    bitfield_size: int

    @property
    def offset(self) -> int:
        """Byte offset; for a bitfield, the byte holding its first bit."""
        return self.bit_offset // 8

    @property
    def is_bitfield(self) -> bool:
        return self.bitfield_size != 0


def resolve(btf, tid: int, typedefs: bool = True) -> int:
    """Skip const/volatile/restrict/type-tag (and typedefs unless
    ``typedefs`` is False) to the type underneath."""
    skip = K.MODIFIERS | {K.TYPEDEF} if typedefs else K.MODIFIERS
    for _ in range(_MAX_DEPTH):
        if btf.kind(tid) not in skip:
            return tid
        tid = btf.type(tid).type
    raise BtfError(f"BTF type chain from id {tid} is too deep (a cycle?)")


def complete(btf, tid: int) -> int:
    """A forward declaration's full struct/union if the BTF has one."""
    if btf.kind(tid) != K.FWD:
        return tid
    fwd = btf.type(tid)
    full = btf.find(fwd.name, K.UNION if fwd.is_union else K.STRUCT)
    return tid if full is None else full


def _composite(btf, tid: int):
    """The struct/union behind ``tid`` (through typedefs, modifiers, FWD)."""
    rid = complete(btf, resolve(btf, tid))
    k = btf.kind(rid)
    if k in (K.STRUCT, K.UNION):
        return btf.type(rid)
    name = btf.type_name(tid)
    if k == K.FWD:
        raise BtfError(f"{name} is incomplete (only declared in BTF)")
    raise BtfError(f"{name} is not a struct or union")


def pointer_size(btf) -> int:
    """Pointers have no size in BTF; take the size of 'unsigned long'."""
    size = getattr(btf, "_ptr_size", None)
    if size is None:
        tid = btf.find("long unsigned int", K.INT)
        size = btf.type(tid).size if tid is not None else 8
        btf._ptr_size = size
    return size


def sizeof(btf, tid: int) -> int:
    """Size in bytes of the type ``tid``, as C's sizeof would give it."""
    for _ in range(_MAX_DEPTH):
        rid = complete(btf, resolve(btf, tid))
        k = btf.kind(rid)
        if k in (K.INT, K.FLOAT, K.STRUCT, K.UNION, K.ENUM, K.ENUM64, K.DATASEC):
            return btf.type(rid).size
        if k == K.PTR:
            return pointer_size(btf)
        if k == K.ARRAY:
            a = btf.type(rid)
            return a.nelems * sizeof(btf, a.type)
        if k == K.VAR:
            tid = btf.type(rid).type
            continue
        what = {K.UNKN: "void", K.FWD: "an incomplete type",
                K.FUNC: "a function", K.FUNC_PROTO: "a function type"}.get(k, "this type")
        raise BtfError(f"cannot take the size of {what} ({btf.type_name(tid)})")
    raise BtfError(f"BTF type chain from id {tid} is too deep (a cycle?)")


def _field(btf, st, m, base_bits: int) -> Field:
    """A Field for member ``m`` of struct ``st`` at ``base_bits``.

    Without kind_flag, old encoders marked a bitfield by giving it an INT
    type whose value bits are fewer than its storage (and maybe offset);
    turn that into the kind_flag form so callers see one representation.
    """
    bits, size = m.bit_offset, m.bitfield_size
    if not st.kind_flag:
        rid = resolve(btf, m.type)
        if btf.kind(rid) == K.INT:
            it = btf.type(rid)
            if it.bit_offset or it.bits != it.size * 8:
                bits += it.bit_offset
                size = it.bits
    return Field(m.name, m.type, base_bits + bits, size)


def _lookup(btf, st, name: str, base_bits: int) -> Field | None:
    for m in st.members:
        if m.name == name:
            return _field(btf, st, m, base_bits)
    for m in st.members:
        if not m.name:
            rid = complete(btf, resolve(btf, m.type))
            if btf.kind(rid) in (K.STRUCT, K.UNION):
                found = _lookup(btf, btf.type(rid), name, base_bits + m.bit_offset)
                if found is not None:
                    return found
    return None


def find_member(btf, tid: int, name: str) -> Field | None:
    """Member ``name`` of the struct/union ``tid`` or None."""
    return _lookup(btf, _composite(btf, tid), name, 0)


def member(btf, tid: int, name: str) -> Field:
    """Member ``name`` of the struct/union ``tid``; raises if absent."""
    st = _composite(btf, tid)
    found = _lookup(btf, st, name, 0)
    if found is None:
        raise BtfError(f"{btf.type_name(st.id)} has no member named {name!r}")
    return found


def members(btf, tid: int) -> list[Field]:
    """Every member reachable by name, anonymous containers flattened, in
    declaration order, offsets from the start of ``tid``."""
    out: list[Field] = []

    def walk(st, base_bits):
        for m in st.members:
            if m.name:
                out.append(_field(btf, st, m, base_bits))
                continue
            rid = complete(btf, resolve(btf, m.type))
            if btf.kind(rid) in (K.STRUCT, K.UNION):
                walk(btf.type(rid), base_bits + m.bit_offset)

    walk(_composite(btf, tid), 0)
    return out


_STEP = re.compile(r"\s*(?:\.?\s*([A-Za-z_]\w*)|\[\s*(\d+)\s*\])")


def field(btf, tid: int, path: str) -> Field:
    """The member at ``path`` ('a.b.c', 'a[2].b') inside ``tid``.

    Nothing is dereferenced: every step but an index must land in a struct
    or union, as with C's offsetof.
    """
    pos, cur, bits, found = 0, tid, 0, None
    path = path.strip()
    if not path:
        raise BtfError("empty member path")
    while pos < len(path):
        mt = _STEP.match(path, pos)
        if mt is None or (pos == 0 and mt.group(2) is not None):
            raise BtfError(f"bad member path {path!r}")
        pos = mt.end()
        if mt.group(1) is not None:
            f = member(btf, cur, mt.group(1))
            bits += f.bit_offset
            found = Field(f.name, f.type, bits, f.bitfield_size)
            cur = f.type
        else:
            rid = resolve(btf, cur)
            if btf.kind(rid) != K.ARRAY:
                raise BtfError(f"{btf.type_name(cur)} is not an array")
            arr = btf.type(rid)
            bits += int(mt.group(2)) * sizeof(btf, arr.type) * 8
            found = Field(found.name + f"[{mt.group(2)}]", arr.type, bits, 0)
            cur = arr.type
    return found


def offsetof(btf, tid: int, path: str) -> int:
    """Byte offset of ``path`` inside ``tid``, like C's offsetof."""
    f = field(btf, tid, path)
    if f.is_bitfield:
        raise BtfError(f"cannot take the offset of bitfield {f.name!r}")
    return f.offset
