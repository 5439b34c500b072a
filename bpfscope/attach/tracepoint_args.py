"""A tracepoint's ``args``: the format file's fields, typed from BTF where
the kernel describes the record.

The format file gives each field's declaration as C text, its offset,
size and a signed flag; that is enough for plain integers and strings
but not for types hidden behind a typedef (``initcall_t func`` and
``fl_owner_t owner`` are pointers that the text cannot tell from
integers). The kernel's BTF has the record itself as
``struct trace_event_raw_<class>``: its own name for a tracepoint
declared alone, its class's (DECLARE_EVENT_CLASS) name for one made
with DEFINE_EVENT, which the format file does not say. So the struct is
looked up by the tracepoint's name first, then by layout: the one
struct of the same first name word whose member names and offsets are
the format's fields (a ``__data_loc`` field is member
``__data_loc_<name>``).

Where a struct is found, integer, bool and pointer fields whose member has the
same offset and size take kind, signedness, C type and the __user tag
from BTF exactly as fentry types a parameter
(:func:`.kfuncs.arg_field`); arrays and ``__data_loc`` strings keep the
format's description. Syscall tracepoints have no such struct (their
records are built by the syscall tracer) and stay as the format says.
Only vmlinux's BTF is searched.
"""

from __future__ import annotations

import functools

from .. import btf
from ..btf import kinds as K
from ..sema import types as T
from ..sema.probes import ArgField
from ..sema.typelib import TypeLibrary
from . import kfuncs
from .tracefs import Format

PREFIX = "trace_event_raw_"
_TYPES = TypeLibrary()
_DYN = ("__data_loc_", "__rel_loc_")
_HEADER = ("ent", "__data")   # struct trace_entry; the dynamic data after the fields


@functools.cache
def _layout(kb: btf.Btf, sid: int) -> tuple:
    """(name, byte offset) of a record struct's fields, header excluded."""
    out = []
    for m in kb.type(sid).members:
        if m.name in _HEADER:
            continue
        name = m.name
        for p in _DYN:
            name = name.removeprefix(p)
        out.append((name, m.offset))
    return tuple(out)


@functools.cache
def _record_structs(kb: btf.Btf) -> dict[str, list[int]]:
    """The trace_event_raw_ structs by the first word of their class name."""
    out: dict[str, list[int]] = {}
    for t in kb.own_ids_prefixed(PREFIX, K.STRUCT):
        cls = kb.name_of(t)[len(PREFIX):]
        out.setdefault(cls.split("_", 1)[0], []).append(t)
    return out


def record_struct(kb: btf.Btf, fmt: Format) -> int | None:
    """The id of the BTF struct that describes ``fmt``'s record, or None.

    A class is named after one of its events or its subsystem, so only
    the structs whose name starts with the event's first word are
    compared (decoding all of them costs a tenth of a second). Several
    with the layout must also agree on the types, else none is used."""
    want = tuple((f.name, f.offset) for f in fmt.args)
    sid = kb.find(PREFIX + fmt.name, K.STRUCT)
    if sid is not None and _layout(kb, sid) == want:
        return sid
    if fmt.category == "syscalls" or not want:
        return None
    same = [s for s in _record_structs(kb).get(fmt.name.split("_", 1)[0], ())
            if _layout(kb, s) == want]
    types = {tuple(kb.type_name(m.type) for m in kb.type(s).members) for s in same}
    return same[0] if len(types) == 1 else None


def from_format(fmt: Format) -> list[ArgField]:
    """The args as the format file alone describes them. A syscall's
    arguments sit in 8-byte slots that the format calls unsigned
    (``int dfd; size:8; signed:0``); as bpftrace, an integer is read as
    its C type says (``int``: the slot's low 4 bytes, signed: -100, not
    4294967196)."""
    user = fmt.category == "syscalls"   # syscall arguments point into user memory
    out = []
    for f in fmt.args:
        size, signed = f.size, f.signed
        if user and f.kind == "int":
            size, signed = _c_int(f.c_type) or (size, signed)
        out.append(ArgField(f.name, f.offset, size, signed, f.kind, f.c_type,
                            f.array_len, user and f.kind == "pointer"))
    return out


@functools.cache
def _c_int(c_type: str) -> tuple[int, bool] | None:
    """(bytes, signed) of a C integer type name (typedefs through BTF)."""
    t = _TYPES.named(c_type)
    if isinstance(t, T.IntType) and not isinstance(t, (T.PointerType, T.BoolType)) \
            and t.bits in (8, 16, 32, 64):
        return t.bits // 8, t.signed
    return None


def typed_args(fmt: Format) -> list[ArgField]:
    """``args`` of a tracepoint: the format's fields, typed from BTF where
    the record's struct is known."""
    args = from_format(fmt)
    if fmt.category == "syscalls":
        return args
    try:
        kb = btf.load_vmlinux()
    except btf.BtfError:
        return args
    sid = record_struct(kb, fmt)
    if sid is None:
        return args
    members = {m.offset: m for m in kb.type(sid).members}
    out = []
    for a in args:
        m = members.get(a.offset)
        if a.kind in ("int", "pointer") and m is not None and m.name == a.name:
            typed, _ = kfuncs.arg_field(kb, a.name, m.type, a.offset)
            if typed.kind in ("int", "bool", "pointer") and typed.size == a.size:
                a = typed
        out.append(a)
    return out
