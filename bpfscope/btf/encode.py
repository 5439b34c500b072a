"""Writing small BTF blobs: the type information a BPF program carries.

The verifier wants program BTF with one FUNC record per function when a
program passes a callback to a helper (bpf_for_each_map_elem): each
function's ``func_info`` entry names a FUNC type, and a callback must have
static linkage. This module builds such blobs; it knows the format only
(include/uapi/linux/btf.h): a 24-byte header, the type records, then the
string section, all little endian here (BPF runs in the host's order, and
only x86-64 and arm64 are supported).
"""

from __future__ import annotations

import struct

from bpfscope.btf import kinds as K


class BtfWriter:
    """Appends type records; each ``add_*`` method returns the new type id
    (ids start at 1; 0 is void)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.strings = bytearray(b"\0")
        self._offsets: dict[str, int] = {"": 0}

    def string(self, text: str) -> int:
        """The offset of ``text`` in the string section, added once."""
        off = self._offsets.get(text)
        if off is None:
            off = self._offsets[text] = len(self.strings)
            self.strings += text.encode() + b"\0"
        return off

    def _add(self, name: str, kind: int, vlen: int, size_or_type: int,
             extra: bytes = b"") -> int:
        info = (kind << 24) | vlen
        self.records.append(struct.pack("<III", self.string(name), info, size_or_type) + extra)
        return len(self.records)

    def add_int(self, name: str, size: int, signed: bool = False) -> int:
        encoding = K.INT_SIGNED if signed else 0
        return self._add(name, K.INT, 0, size, struct.pack("<I", (encoding << 24) | size * 8))

    def add_ptr(self, target: int) -> int:
        return self._add("", K.PTR, 0, target)

    def add_func_proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        """``params`` are (name, type id); a name may be empty."""
        extra = b"".join(struct.pack("<II", self.string(n), t) for n, t in params)
        return self._add("", K.FUNC_PROTO, len(params), ret, extra)

    def add_func(self, name: str, proto: int, linkage: int = K.FUNC_STATIC) -> int:
        return self._add(name, K.FUNC, linkage, proto)

    def blob(self) -> bytes:
        types = b"".join(self.records)
        header = struct.pack("<HBBIIIII", K.MAGIC, K.VERSION, 0, K.HEADER_LEN,
                             0, len(types), len(types), len(self.strings))
        return header + types + bytes(self.strings)


def program_btf(functions: list[tuple[str, tuple[str, ...]]]) -> tuple[bytes, list[int]]:
    """BTF for a program's functions, each given as (name, argument
    names): ``long name(void *arg, ...)`` with static linkage (the kernel
    wants every argument of a FUNC named). Returns the blob and the FUNC
    type id of each function, in order."""
    w = BtfWriter()
    long_t = w.add_int("long", 8, signed=True)
    void_ptr = w.add_ptr(0)
    protos: dict[tuple[str, ...], int] = {}
    ids = []
    for name, args in functions:
        args = tuple(args)
        if args not in protos:
            protos[args] = w.add_func_proto(long_t, [(a, void_ptr) for a in args])
        ids.append(w.add_func(name, protos[args]))
    return w.blob(), ids
