"""The :class:`Btf` object: a lazily decoded view of one BTF blob.

Opening a blob costs one pass over the type section that records where each
record starts (``_offs``, in 32-bit words) and its name offset
(``_names_bytes``);
nothing is decoded. ``type(id)`` decodes one record when asked and memoizes
it. ``find(name)`` looks the name up in the string section with
``bytes.find`` and then finds the records carrying that string offset with
another ``bytes.find`` over the packed name offsets, so neither a name
dictionary nor decoded strings are ever built for the whole blob.

Split BTF (a module's /sys/kernel/btf/<module>) has a ``base``: its type ids
continue after the base's last id and its string offsets after the base's
string section; ids and offsets below that are looked up in the base.
"""

from __future__ import annotations

import array
import bisect
import struct
import sys
from typing import Iterator

from bpfscope.btf import cache, cname, decode, kinds as K, layout, symbols
from bpfscope.btf.errors import BtfError
from bpfscope.btf.types import Type, Void
from bpfscope.errors import warn

_HDR = "HBBIIIII"


def build_index(words, name: str = "") -> tuple[array.array, bytes]:
    """One pass over the type section: start word and name_off per record
    (the latter as packed native uint32 bytes).

    This is the only loop over every type; keep it tight (locals only, one
    append per record). The name offsets are gathered afterwards with map(),
    which runs at C speed. A kind newer than bpfscope leaves the loop for
    :func:`_walk_unknown`.
    """
    fixed = K.FIXED_WORDS
    per = K.PER_VLEN_WORDS
    offs = array.array("I")
    add = offs.append
    i = 0
    n = len(words)
    while i < n:
        add(i)
        info = words[i + 1]
        k = (info >> 24) & 31
        f = fixed[k]
        if f < 0:
            offs.pop()
            offs.extend(_walk_unknown(words, i, name, len(offs) + 1))
            i = n
            break
        i += 3 + f + per[k] * (info & 0xFFFF)
    if i != n:
        raise BtfError("BTF type section ends inside a type record")
    names = array.array("I", map(words.__getitem__, offs))
    return offs, names.tobytes()


# (fixed words, words per vlen) a kind unknown to bpfscope may have, likeliest
# first: every kind so far is one of these shapes.
_GUESSES = ((0, 0), (1, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 0), (1, 3), (2, 1))


def _walk(words, i: int, kind: int, extra: int, per_vlen: int) -> array.array | None:
    """Record starts from word ``i`` to the end if records of ``kind`` are
    ``3 + extra + per_vlen * vlen`` words long; None if that does not end
    exactly where the section does (or meets another unknown kind)."""
    fixed, per = K.FIXED_WORDS, K.PER_VLEN_WORDS
    offs = array.array("I")
    n = len(words)
    while i < n:
        if i + 3 > n:
            return None
        offs.append(i)
        info = words[i + 1]
        k = (info >> 24) & 31
        if k == kind:
            i += 3 + extra + per_vlen * (info & 0xFFFF)
        elif k == K.UNKN or fixed[k] < 0:  # no real record has kind 0
            return None
        else:
            i += 3 + fixed[k] + per[k] * (info & 0xFFFF)
    return offs if i == n else None


def _walk_unknown(words, i: int, name: str, tid: int) -> array.array:
    """The record starts from an unknown kind's first record at word ``i``
    (type ``tid``) on. Its size cannot be read from the record, so every
    shape a kind has had so far is tried; when exactly one way of stepping
    over such records ends where the section ends, its types are kept as
    records bpfscope cannot decode, else the types from ``tid`` on are
    dropped. Either way a warning says so."""
    kind = (words[i + 1] >> 24) & 31
    what = f"BTF of {name or 'a blob'}: type {tid} has kind {kind}, which bpfscope does not know"
    walks = [w for w in (_walk(words, i, kind, e, p) for e, p in _GUESSES) if w is not None]
    if walks and all(w == walks[0] for w in walks):
        warn(f"{what}; types of that kind are skipped (a kernel newer than bpfscope?)")
        return walks[0]
    warn(f"{what} and cannot step over; the types from {tid} on are not read "
         "(a kernel newer than bpfscope?)")
    return array.array("I")


class Btf:
    """One BTF blob (vmlinux or a module on top of it).

    ``index`` is an ``(offs, names)`` pair from :func:`build_index` (or the
    disk cache); when None, or when a spot check finds that it does not
    describe this blob, it is built here.
    """

    def __init__(self, data: bytes, base: "Btf | None" = None, name: str = "",
                 index: tuple[array.array, array.array] | None = None):
        self.name = name
        self.base = base
        if len(data) < K.HEADER_LEN:
            raise BtfError(f"BTF data of {name or 'blob'} is too short")
        magic = struct.unpack_from("<H", data)[0]
        if magic == K.MAGIC:
            order = "<"
        elif magic == 0x9FEB:
            order = ">"
        else:
            raise BtfError(f"not BTF data (magic {magic:#06x})")
        (_, version, self.flags, hdr_len, type_off, type_len, str_off,
         str_len) = struct.unpack_from(order + _HDR, data)
        if version != K.VERSION:
            raise BtfError(f"unsupported BTF version {version}")
        t0, s0 = hdr_len + type_off, hdr_len + str_off
        if (t0 + type_len > len(data) or s0 + str_len > len(data)
                or type_len % 4):
            raise BtfError("BTF header sections do not fit the data")
        if t0 % 4 == 0 and (order == "<") == (sys.byteorder == "little"):
            # Aligned and in our byte order (the usual case): view the type
            # section in place instead of copying 3 MB.
            words = memoryview(data)[t0:t0 + type_len].cast("I")
            self._t0 = t0
        else:
            self._t0 = None
            words = array.array("I")
            words.frombytes(data[t0:t0 + type_len])
            # The blob's byte order differs from ours: swap the type words
            # once; strings are bytes and need nothing.
            if (order == "<") != (sys.byteorder == "little"):
                words.byteswap()
        self._w = words
        # Strings stay in ``data``: searched and sliced there, never copied.
        self._data = data
        self._s0, self._s1 = s0, s0 + str_len
        if base is None:
            self.start_id = 1
            self._str_base = 0
        else:
            self.start_id = base.count
            self._str_base = base._str_end
        self._str_end = self._str_base + str_len
        if index is not None:
            if not cache.plausible(index, words):
                index = None
        if index is None:
            index = build_index(words, name)
        # offs: array of each record's first word; names: the records'
        # name_off values packed as native uint32 bytes (searched with find).
        self._offs, self._names_bytes = index
        self._cache: dict[int, Type] = {}
        self._find_memo: dict[str, list[int]] = {}
        self.count = self.start_id + len(self._offs)

    # -- raw access ---------------------------------------------------------

    def __repr__(self) -> str:
        return (f"<Btf {self.name or '?'} ids {self.start_id}..{self.count - 1}"
                f"{' base=' + self.base.name if self.base else ''}>")

    def __len__(self) -> int:
        """Number of type ids, counting void (id 0) and the base's ids."""
        return self.count

    def str_at(self, off: int) -> str:
        """The NUL-terminated string at string offset ``off``."""
        if off < self._str_base:
            return self.base.str_at(off)
        pos = self._s0 + off - self._str_base
        if pos >= self._s1:
            raise BtfError(f"BTF string offset {off} out of range")
        end = self._data.find(b"\0", pos, self._s1)
        if end < 0:
            end = self._s1
        return self._data[pos:end].decode("utf-8", "replace")

    def _own(self, tid: int) -> int:
        """Word offset of own type ``tid`` (which must be >= start_id)."""
        i = tid - self.start_id
        if i < 0 or i >= len(self._offs):
            raise BtfError(f"BTF type id {tid} out of range")
        return self._offs[i]

    def _word_positions(self, value: int) -> Iterator[int]:
        """Positions (in words) of ``value`` in this blob's type section.

        With the section viewed in place this is a bytes.find over the raw
        data, keeping only 4-byte aligned hits; a copied section is scanned.
        """
        if self._t0 is None:
            for i, v in enumerate(self._w):
                if v == value:
                    yield i
            return
        d, t0 = self._data, self._t0
        t1 = t0 + 4 * len(self._w)
        pat = value.to_bytes(4, sys.byteorder)
        pos = d.find(pat, t0, t1)
        while pos >= 0:
            if (pos - t0) % 4 == 0:
                yield (pos - t0) // 4
                pos = d.find(pat, pos + 4, t1)
            else:
                pos = d.find(pat, pos + 1, t1)

    def _record_at(self, word: int) -> tuple[int, int]:
        """(type id, first word) of the own record holding word ``word``."""
        i = bisect.bisect_right(self._offs, word) - 1
        return self.start_id + i, self._offs[i]

    def kind(self, tid: int) -> int:
        """The kind of ``tid`` without decoding it (0 for void)."""
        if tid == 0:
            return K.UNKN
        if tid < self.start_id:
            return self.base.kind(tid)
        return (self._w[self._own(tid) + 1] >> 24) & 31

    def name_of(self, tid: int) -> str:
        """The name of ``tid`` without decoding the rest of it."""
        if tid == 0:
            return "void"
        if tid < self.start_id:
            return self.base.name_of(tid)
        return self.str_at(self._w[self._own(tid)])

    def ids(self, kind: int | str | None = None) -> Iterator[int]:
        """Every type id (base first), optionally only those of one kind."""
        if self.base is not None:
            yield from self.base.ids(kind)
        k = None if kind is None else K.kind_of(kind)
        w = self._w
        for i, o in enumerate(self._offs):
            if k is None or (w[o + 1] >> 24) & 31 == k:
                yield self.start_id + i

    def type(self, tid: int) -> Type:
        """The decoded type ``tid`` (memoized)."""
        t = self._cache.get(tid)
        if t is not None:
            return t
        if tid == 0:
            t = Void(0, K.UNKN, "void")
        elif tid < self.start_id:
            return self.base.type(tid)
        else:
            t = decode.decode(self, tid, self._w, self._own(tid))
        self._cache[tid] = t
        return t

    # -- name lookup --------------------------------------------------------

    def _string_offsets(self, raw: bytes) -> list[int]:
        """Every string offset (in this blob's or a base's section) whose
        string is exactly ``raw``."""
        out = self.base._string_offsets(raw) if self.base is not None else []
        d, s0, s1 = self._data, self._s0, self._s1
        if d.startswith(raw + b"\0", s0, s1):
            out.append(self._str_base)
        needle = b"\0" + raw + b"\0"
        pos = d.find(needle, s0, s1)
        while pos >= 0:
            out.append(self._str_base + pos + 1 - s0)
            pos = d.find(needle, pos + 1, s1)
        return out

    def _own_ids_named(self, str_offs: list[int]) -> list[int]:
        nb = self._names_bytes
        order = "little" if sys.byteorder == "little" else "big"
        found = []
        for off in str_offs:
            pat = off.to_bytes(4, order)
            pos = nb.find(pat)
            while pos >= 0:
                if pos % 4 == 0:
                    found.append(self.start_id + pos // 4)
                    pos = nb.find(pat, pos + 4)
                else:
                    pos = nb.find(pat, pos + 1)
        found.sort()
        return found

    def _ids_named(self, name: str) -> list[int]:
        memo = self._find_memo.get(name)
        if memo is not None:
            return memo
        raw = name.encode()
        str_offs = self._string_offsets(raw) if raw else []
        ids = self.base._ids_named(name) if self.base is not None else []
        ids = ids + self._own_ids_named(str_offs)
        self._find_memo[name] = ids
        return ids

    def own_ids_prefixed(self, prefix: str, kind: int | str | None = None) -> list[int]:
        """This blob's own type ids (not its base's) whose names start with
        ``prefix`` (of ``kind`` if given), in id order. One scan of the
        string section and one of the name index, no decoding."""
        d, s0, s1 = self._data, self._s0, self._s1
        raw = prefix.encode()
        offs = set()
        if raw and d.startswith(raw, s0, s1):
            offs.add(self._str_base)
        needle = b"\0" + raw
        pos = d.find(needle, s0, s1)
        while pos >= 0:
            offs.add(self._str_base + pos + 1 - s0)
            pos = d.find(needle, pos + 1, s1)
        names = array.array("I")
        names.frombytes(self._names_bytes)
        k = None if kind is None else K.kind_of(kind)
        return [self.start_id + i for i, off in enumerate(names)
                if off in offs and (k is None or self.kind(self.start_id + i) == k)]

    def find_all(self, name: str, kind: int | str | tuple | None = None) -> list[int]:
        """All type ids named ``name`` (of ``kind`` if given), base first.

        ``name`` may carry a C tag: 'struct foo', 'union foo', 'enum foo'
        (enum matches ENUM and ENUM64). ``kind`` is a kind number or name or
        a tuple of them.
        """
        kinds = _kinds_for(name, kind)
        ids = self._ids_named(_strip_tag(name))
        if kinds is not None:
            ids = [i for i in ids if self.kind(i) in kinds]
        head = name.strip().partition(" ")[0]
        if head in ("struct", "union"):
            # A forward declaration says which of the two it announces.
            want_union = head == "union"
            ids = [i for i in ids if self.kind(i) != K.FWD
                   or self.type(i).is_union == want_union]
        return ids

    def find(self, name: str, kind: int | str | tuple | None = None) -> int | None:
        """One type id named ``name`` or None. A complete type is preferred
        to a forward declaration; otherwise the lowest id wins."""
        ids = self.find_all(name, kind)
        for i in ids:
            if self.kind(i) != K.FWD:
                return i
        return ids[0] if ids else None

    def get(self, name: str, kind: int | str | tuple | None = None) -> int:
        """Like :meth:`find` but raises :class:`BtfError` when nothing matches."""
        tid = self.find(name, kind)
        if tid is None:
            what = name if kind is None or " " in name else f"{_kind_label(kind)} {name}"
            raise BtfError(f"type {what!r} not found in BTF")
        return tid

    # -- queries implemented in the helper modules ---------------------------
    # Structs may be given by id or by name ('task_struct', 'struct
    # task_struct'); see layout, cname and symbols for the details.

    def resolve(self, tid: int, typedefs: bool = True) -> int:
        return layout.resolve(self, tid, typedefs)

    def sizeof(self, tid: int | str) -> int:
        return layout.sizeof(self, self._id(tid))

    def member(self, struct: int | str, name: str):
        return layout.member(self, self._id(struct), name)

    def find_member(self, struct: int | str, name: str):
        """Like :meth:`member` but None when there is no such member."""
        return layout.find_member(self, self._id(struct), name)

    def members(self, struct: int | str):
        return layout.members(self, self._id(struct))

    def field(self, struct: int | str, path: str):
        return layout.field(self, self._id(struct), path)

    def offsetof(self, struct: int | str, path: str) -> int:
        return layout.offsetof(self, self._id(struct), path)

    def type_name(self, tid: int) -> str:
        return cname.type_name(self, tid)

    def declaration(self, tid: int, name: str) -> str:
        return cname.declaration(self, tid, name)

    def func_proto_of(self, func: str):
        return symbols.func_proto_of(self, func)

    def enum_value(self, enum: int | str, name: str) -> int:
        return symbols.enum_value(self, self._id(enum, ("ENUM", "ENUM64")), name)

    def enum_name(self, enum: int | str, value: int) -> str | None:
        return symbols.enum_name(self, self._id(enum, ("ENUM", "ENUM64")), value)

    def find_enumerator(self, name: str):
        return symbols.find_enumerator(self, name)

    def _id(self, what: int | str, kind=None) -> int:
        """A type id from an id or a name (which must match a type)."""
        if isinstance(what, int):
            return what
        return self.get(what, kind)


_TAGS = {"struct": (K.STRUCT, K.FWD), "union": (K.UNION, K.FWD),
         "enum": (K.ENUM, K.ENUM64)}


def _strip_tag(name: str) -> str:
    head, _, rest = name.strip().partition(" ")
    if head in _TAGS and rest:
        return rest.strip()
    return name.strip()


def _kinds_for(name: str, kind) -> frozenset[int] | None:
    ks = None
    if kind is not None:
        seq = kind if isinstance(kind, (tuple, list, set, frozenset)) else (kind,)
        ks = frozenset(K.kind_of(k) for k in seq)
    head, _, rest = name.strip().partition(" ")
    if head in _TAGS and rest:
        tag = frozenset(_TAGS[head])
        # 'enum foo' never names a forward declaration in BTF, but 'struct
        # foo' may; FWD entries are kept and find() prefers the full type.
        ks = tag if ks is None else ks & tag
    return ks


def _kind_label(kind) -> str:
    if isinstance(kind, (tuple, list)):
        kind = kind[0]
    return K.KIND_NAMES.get(K.kind_of(kind), "?").lower()
