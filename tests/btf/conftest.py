"""A tiny BTF encoder for building test blobs by hand.

Written from the format description (include/uapi/linux/btf.h): a 24-byte
header, the type records, then the string section. Each ``add_*`` method
appends one record and returns its type id, so tests read like the C they
stand for. ``Enc(base=other)`` builds split BTF on top of ``other``: ids and
string offsets continue after the base's, and strings the base already has
are reused, as pahole does for modules.
"""

from __future__ import annotations

import struct

import pytest

from bpfscope.btf import kinds as K
from bpfscope.btf.reader import Btf


class Enc:
    def __init__(self, base: "Enc | None" = None, lead_nul: bool = True):
        self.base = base
        self.records: list[bytes] = []
        self.strs = bytearray(b"\0" if lead_nul or base is None else b"")
        self._str_index: dict[str, int] = {}
        if base is None or lead_nul:
            self._str_index[""] = 0 if base is None else base.str_end
        self.start_id = 1 if base is None else base.next_id
        self.str_base = 0 if base is None else base.str_end

    @property
    def next_id(self) -> int:
        return self.start_id + len(self.records)

    @property
    def str_end(self) -> int:
        return self.str_base + len(self.strs)

    def s(self, text: str) -> int:
        if text == "" and self.base is not None:
            return 0        # offset 0 is the base's empty string
        if self.base is not None:
            hit = self.base._lookup(text)
            if hit is not None:
                return hit
        if text not in self._str_index:
            self._str_index[text] = self.str_base + len(self.strs)
            self.strs += text.encode() + b"\0"
        return self._str_index[text]

    def _lookup(self, text):
        if self.base is not None:
            hit = self.base._lookup(text)
            if hit is not None:
                return hit
        return self._str_index.get(text)

    def add(self, name: str, kind: int, vlen: int, size_or_type: int,
            extra: bytes = b"", kflag: bool = False) -> int:
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.records.append(struct.pack("<III", self.s(name), info, size_or_type) + extra)
        return self.next_id - 1

    # -- one method per kind ---------------------------------------------------

    def int(self, name, size, signed=False, char=False, bool_=False, bits=None, offset=0):
        enc = (K.INT_SIGNED if signed else 0) | (K.INT_CHAR if char else 0) \
            | (K.INT_BOOL if bool_ else 0)
        bits = size * 8 if bits is None else bits
        return self.add(name, K.INT, 0, size, struct.pack("<I", (enc << 24) | (offset << 16) | bits))

    def ptr(self, t):
        return self.add("", K.PTR, 0, t)

    def array(self, elem, n, index_type=0):
        return self.add("", K.ARRAY, 0, 0, struct.pack("<III", elem, index_type, n))

    def struct(self, name, size, members, union=False, kflag=None):
        """members: (name, type, bit_offset[, bitfield_size])."""
        members = [m if len(m) == 4 else (*m, 0) for m in members]
        if kflag is None:
            kflag = any(m[3] for m in members)
        extra = b"".join(
            struct.pack("<III", self.s(n), t, (bs << 24 | off) if kflag else off)
            for n, t, off, bs in members)
        return self.add(name, K.UNION if union else K.STRUCT, len(members), size, extra, kflag)

    def union(self, name, size, members, kflag=None):
        return self.struct(name, size, members, union=True, kflag=kflag)

    def enum(self, name, values, size=4, signed=False):
        extra = b"".join(struct.pack("<II", self.s(n), v & 0xFFFFFFFF) for n, v in values)
        return self.add(name, K.ENUM, len(values), size, extra, signed)

    def enum64(self, name, values, size=8, signed=False):
        extra = b"".join(struct.pack("<III", self.s(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)
                         for n, v in values)
        return self.add(name, K.ENUM64, len(values), size, extra, signed)

    def fwd(self, name, union=False):
        return self.add(name, K.FWD, 0, 0, b"", union)

    def typedef(self, name, t):
        return self.add(name, K.TYPEDEF, 0, t)

    def volatile(self, t):
        return self.add("", K.VOLATILE, 0, t)

    def const(self, t):
        return self.add("", K.CONST, 0, t)

    def restrict(self, t):
        return self.add("", K.RESTRICT, 0, t)

    def type_tag(self, tag, t):
        return self.add(tag, K.TYPE_TAG, 0, t)

    def func_proto(self, ret, params, variadic=False):
        params = list(params) + ([("", 0)] if variadic else [])
        extra = b"".join(struct.pack("<II", self.s(n), t) for n, t in params)
        return self.add("", K.FUNC_PROTO, len(params), ret, extra)

    def func(self, name, proto, linkage=K.FUNC_GLOBAL):
        return self.add(name, K.FUNC, linkage, proto)

    def var(self, name, t, linkage=K.VAR_GLOBAL_ALLOCATED):
        return self.add(name, K.VAR, 0, t, struct.pack("<I", linkage))

    def datasec(self, name, size, vars_):
        extra = b"".join(struct.pack("<III", *v) for v in vars_)
        return self.add(name, K.DATASEC, len(vars_), size, extra)

    def float(self, name, size):
        return self.add(name, K.FLOAT, 0, size)

    def decl_tag(self, tag, t, component_idx=-1):
        return self.add(tag, K.DECL_TAG, 0, t, struct.pack("<i", component_idx))

    # -- output ------------------------------------------------------------------

    def blob(self, big_endian: bool = False, hdr_pad: int = 0, str_first: bool = False) -> bytes:
        """The BTF bytes. ``hdr_pad`` grows hdr_len (newer headers are
        longer); ``str_first`` puts the string section before the types."""
        types = b"".join(self.records)
        strs = bytes(self.strs)
        hdr_len = 24 + hdr_pad
        if str_first:
            str_off, type_off = 0, len(strs) + (-len(strs) % 4)
            body = strs + b"\0" * (-len(strs) % 4) + types
        else:
            type_off, str_off = 0, len(types)
            body = types + strs
        head = struct.pack("<HBBIIIII", K.MAGIC, K.VERSION, 0, hdr_len,
                           type_off, len(types), str_off, len(strs)) + b"\0" * hdr_pad
        if big_endian:
            head = struct.pack(">HBBIIIII", K.MAGIC, K.VERSION, 0, hdr_len,
                               type_off, len(types), str_off, len(strs)) + b"\0" * hdr_pad
            swapped = bytearray()
            for rec in self.records:
                # Every record is made of 32-bit words; swap each.
                for i in range(0, len(rec), 4):
                    swapped += rec[i:i + 4][::-1]
            types = bytes(swapped)
            body = (strs + b"\0" * (-len(strs) % 4) + types) if str_first else types + strs
        return head + body

    def btf(self, base_btf: Btf | None = None, **kw) -> Btf:
        return Btf(self.blob(**kw), base=base_btf, name="test")


@pytest.fixture
def enc() -> Enc:
    return Enc()


@pytest.fixture
def Encoder():
    return Enc
