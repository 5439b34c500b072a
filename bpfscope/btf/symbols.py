"""Function signatures and enum values.

``func_proto_of`` gives what fentry/kprobe providers need for ``args``:
each parameter's name and type id plus the return type. Enumerator lookup
by name scans the raw ENUM/ENUM64 records once (without decoding any
string) and keys them by string offset, so the first lookup is cheap and
later ones are dictionary hits.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfscope.btf import kinds as K
from bpfscope.btf.errors import BtfError
from bpfscope.btf.types import Param


@dataclass(frozen=True, slots=True)
class FuncSignature:
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


def _enumerator_index(btf) -> dict[int, list[tuple[int, int]]]:
    """string offset -> [(enum type id, index of the enumerator)] for this
    blob's own enums (a base has its own index)."""
    idx = btf._enumerators
    if idx is not None:
        return idx
    idx = {}
    w = btf._w
    for i, o in enumerate(btf._offs):
        info = w[o + 1]
        k = (info >> 24) & 31
        if k == K.ENUM:
            step = 2
        elif k == K.ENUM64:
            step = 3
        else:
            continue
        tid = btf.start_id + i
        for j in range(info & 0xFFFF):
            idx.setdefault(w[o + 3 + step * j], []).append((tid, j))
    btf._enumerators = idx
    return idx


def find_enumerator(btf, name: str) -> tuple[int, int] | None:
    """(enum type id, value) of the enumerator called ``name`` anywhere in
    the BTF (base first), or None."""
    if btf.base is not None:
        hit = find_enumerator(btf.base, name)
        if hit is not None:
            return hit
    idx = _enumerator_index(btf)
    for off in btf._string_offsets(name.encode()):
        for tid, j in idx.get(off, ()):
            return tid, btf.type(tid).values[j].value
    return None
