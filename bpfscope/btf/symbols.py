"""Function signatures and enum values.

``func_proto_of`` gives what fentry/kprobe providers need for ``args``:
each parameter's name and type id plus the return type. Enumerator lookup
by name needs no table of all enumerators (see :func:`find_enumerator`).
"""

from __future__ import annotations

from bpfscope.btf import kinds as K
from bpfscope.btf.errors import BtfError
from bpfscope.btf.types import Param, Record


class FuncSignature(Record):
    __slots__ = ("name", "func_id", "proto_id", "params", "ret", "variadic", "linkage")

    name: str
    func_id: int            # the FUNC
    proto_id: int           # its FUNC_PROTO
    params: tuple[Param, ...]
    ret: int                # return type id (0: void)
    variadic: bool
    linkage: int


def func_proto_of(btf, name: str) -> FuncSignature:
    """The signature of kernel (or module) function ``name``."""
    fid = btf.find(name, K.FUNC)
    if fid is None:
        raise BtfError(f"function {name!r} not found in BTF")
    func = btf.type(fid)
    proto = btf.type(func.type)
    if proto.kind != K.FUNC_PROTO:
        raise BtfError(f"function {name!r} has no prototype in BTF")
    return FuncSignature(name, fid, proto.id, proto.params, proto.ret,
                         proto.variadic, func.linkage)


def _enum(btf, tid: int):
    rid = btf.resolve(tid)
    t = btf.type(rid)
    if t.kind not in (K.ENUM, K.ENUM64):
        raise BtfError(f"{btf.type_name(tid)} is not an enum")
    return t


def enum_value(btf, tid: int, name: str) -> int:
    """The value of enumerator ``name`` of enum ``tid``."""
    t = _enum(btf, tid)
    v = t.value_of(name)
    if v is None:
        raise BtfError(f"{btf.type_name(tid)} has no enumerator {name!r}")
    return v


def enum_name(btf, tid: int, value: int) -> str | None:
    """The (first) enumerator of enum ``tid`` with ``value``, or None."""
    return _enum(btf, tid).name_of(value)


def find_enumerator(btf, name: str) -> tuple[int, int] | None:
    """(enum type id, value) of the enumerator called ``name`` anywhere in
    the BTF (base first), or None.

    No enumerator table is built: the name's string offset is searched for
    in the raw type section and each hit is mapped back to its record,
    which is an answer when the record is an enum and the hit sits in an
    enumerator's name slot.
    """
    if btf.base is not None:
        hit = find_enumerator(btf.base, name)
        if hit is not None:
            return hit
    w = btf._w
    for off in btf._string_offsets(name.encode()):
        for pos in btf._word_positions(off):
            tid, o = btf._record_at(pos)
            info = w[o + 1]
            k = (info >> 24) & 31
            step = 2 if k == K.ENUM else 3 if k == K.ENUM64 else 0
            rel = pos - (o + 3)
            if step and rel >= 0 and rel % step == 0 and rel // step < info & 0xFFFF:
                return tid, btf.type(tid).values[rel // step].value
    return None
