"""Decoding one type record into its :mod:`bpfscope.btf.types` object.

``w`` is the type section as 32-bit words and ``o`` the record's first word:
``w[o]`` name_off, ``w[o+1]`` info (vlen bits 0-15, kind bits 24-28,
kind_flag bit 31), ``w[o+2]`` size or type, then the kind's extra words.
"""

from __future__ import annotations

from bpfscope.btf import kinds as K
from bpfscope.btf import types as T
from bpfscope.btf.errors import BtfError


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def decode(btf, tid: int, w, o: int) -> T.Type:
    name = btf.str_at(w[o])
    info = w[o + 1]
    kind = (info >> 24) & 31
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    st = w[o + 2]           # size or type, by kind
    x = o + 3               # first extra word
    if kind == K.INT:
        v = w[x]
        return T.Int(tid, kind, name, st, (v >> 24) & 0x0F, v & 0xFF, (v >> 16) & 0xFF)
    if kind in (K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG):
        return T.Ref(tid, kind, name, st)
    if kind == K.ARRAY:
        return T.Array(tid, kind, name, w[x], w[x + 1], w[x + 2])
    if kind in (K.STRUCT, K.UNION):
        ms = []
        for i in range(vlen):
            m = x + 3 * i
            off = w[m + 2]
            if kflag:
                # The top 8 bits hold the bitfield size (0: not a bitfield).
                ms.append(T.Member(btf.str_at(w[m]), w[m + 1], off & 0xFFFFFF, off >> 24))
            else:
                ms.append(T.Member(btf.str_at(w[m]), w[m + 1], off, 0))
        return T.Struct(tid, kind, name, st, tuple(ms), kflag)
    if kind == K.ENUM:
        conv = _s32 if kflag else int
        vals = tuple(T.EnumValue(btf.str_at(w[x + 2 * i]), conv(w[x + 2 * i + 1]))
                     for i in range(vlen))
        return T.Enum(tid, kind, name, st, vals, kflag)
    if kind == K.ENUM64:
        vals = []
        for i in range(vlen):
            e = x + 3 * i
            v = w[e + 1] | (w[e + 2] << 32)
            vals.append(T.EnumValue(btf.str_at(w[e]), _s64(v) if kflag else v))
        return T.Enum(tid, kind, name, st, tuple(vals), kflag)
    if kind == K.FWD:
        return T.Fwd(tid, kind, name, kflag)
    if kind == K.FUNC:
        return T.Func(tid, kind, name, st, vlen)
    if kind == K.FUNC_PROTO:
        params = [T.Param(btf.str_at(w[x + 2 * i]), w[x + 2 * i + 1]) for i in range(vlen)]
        # '...' is encoded as a last parameter with neither name nor type.
        variadic = bool(params) and params[-1].type == 0 and not params[-1].name
        if variadic:
            params.pop()
        return T.FuncProto(tid, kind, name, st, tuple(params), variadic)
    if kind == K.VAR:
        return T.Var(tid, kind, name, st, w[x])
    if kind == K.DATASEC:
        return T.Datasec(tid, kind, name, st, tuple(
            T.VarSecinfo(w[x + 3 * i], w[x + 3 * i + 1], w[x + 3 * i + 2])
            for i in range(vlen)))
    if kind == K.FLOAT:
        return T.Float(tid, kind, name, st)
    if kind == K.DECL_TAG:
        return T.DeclTag(tid, kind, name, st, _s32(w[x]))
    raise BtfError(f"BTF type {tid} has unknown kind {kind}")
