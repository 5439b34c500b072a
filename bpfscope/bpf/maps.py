"""BPF maps: create one, read and write its elements as bytes, iterate it.

Values of per-CPU maps are lists with one entry per possible CPU; the kernel
lays them out in slots rounded up to 8 bytes, which this module hides.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import re
from dataclasses import dataclass

from .attrs import (GetNextIdAttr, InfoByFdAttr, MapBatchAttr, MapCreateAttr,
                    MapElemAttr, MapInfo)
from .consts import (ARRAY_MAP_TYPES, BPF_ANY, ENOTSUPP, PERCPU_MAP_TYPES,
                     Cmd, MapType)
from .sys import BpfSyscallError, addr, bpf, close_fd, ncpus_possible

_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.]")
NAME_MAX = 15

# Errors meaning "this map type has no batch operations".
_NO_BATCH_ERRNOS = (errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP, errno.ENOTSUP)

_BATCH_COUNT = 256


def sanitize_name(name: str) -> str:
    """The kernel accepts at most 15 characters of [A-Za-z0-9_.]."""
    return _NAME_BAD_CHARS.sub("_", name)[:NAME_MAX]


def _round8(n: int) -> int:
    return (n + 7) & ~7


@dataclass
class MapInfoData:
    """What BPF_OBJ_GET_INFO_BY_FD says about a map."""

    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int


class BpfMap:
    """A map owned by this process through ``fd``."""

    def __init__(self, fd: int, map_type: int, key_size: int, value_size: int,
                 max_entries: int, name: str = "", flags: int = 0):
        self.fd = fd
        self.map_type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.name = name
        self.flags = flags
        self.percpu = map_type in PERCPU_MAP_TYPES
        self._ncpus = ncpus_possible() if self.percpu else 1
        self._slot = _round8(value_size) if self.percpu else value_size

    @classmethod
    def create(cls, map_type: int, key_size: int, value_size: int,
               max_entries: int, name: str = "", flags: int = 0) -> "BpfMap":
        name = sanitize_name(name)
        attr = MapCreateAttr(map_type=map_type, key_size=key_size,
                             value_size=value_size, max_entries=max_entries,
                             map_flags=flags, map_name=name.encode())
        fd = bpf(Cmd.MAP_CREATE, attr, detail=_describe(map_type, name))
        return cls(fd, map_type, key_size, value_size, max_entries, name, flags)

    # -- element access -------------------------------------------------

    @property
    def value_buf_size(self) -> int:
        """Bytes the kernel reads or writes for one value (all CPUs)."""
        return self._slot * self._ncpus

    def _key_buf(self, key: bytes):
        if len(key) != self.key_size:
            raise ValueError(f"map {self.name!r}: key is {len(key)} bytes, "
                             f"expected {self.key_size}")
        return ctypes.create_string_buffer(key, self.key_size)

    def _split_value(self, raw: bytes) -> bytes | list[bytes]:
        if not self.percpu:
            return raw[:self.value_size]
        return [raw[i * self._slot:i * self._slot + self.value_size]
                for i in range(self._ncpus)]

    def _join_value(self, value) -> bytes:
        if not self.percpu:
            if len(value) != self.value_size:
                raise ValueError(f"map {self.name!r}: value is {len(value)} "
                                 f"bytes, expected {self.value_size}")
            return bytes(value)
        values = [value] * self._ncpus if isinstance(value, (bytes, bytearray)) \
            else list(value)
        if len(values) != self._ncpus:
            raise ValueError(f"map {self.name!r}: {len(values)} per-CPU values, "
                             f"expected {self._ncpus}")
        out = bytearray()
        for v in values:
            if len(v) != self.value_size:
                raise ValueError(f"map {self.name!r}: value is {len(v)} "
                                 f"bytes, expected {self.value_size}")
            out += bytes(v).ljust(self._slot, b"\0")
        return bytes(out)

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        kbuf = self._key_buf(key)
        vbuf = ctypes.create_string_buffer(self.value_buf_size)
        attr = MapElemAttr(map_fd=self.fd, key=addr(kbuf), value=addr(vbuf))
        try:
            bpf(Cmd.MAP_LOOKUP_ELEM, attr, detail=self._detail())
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return self._split_value(vbuf.raw)

    def update(self, key: bytes, value, flags: int = BPF_ANY) -> None:
        kbuf = self._key_buf(key)
        vbuf = ctypes.create_string_buffer(self._join_value(value),
                                           self.value_buf_size)
        attr = MapElemAttr(map_fd=self.fd, key=addr(kbuf), value=addr(vbuf),
                           flags=flags)
        bpf(Cmd.MAP_UPDATE_ELEM, attr, detail=self._detail())

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; False if it was not there."""
        kbuf = self._key_buf(key)
        attr = MapElemAttr(map_fd=self.fd, key=addr(kbuf))
        try:
            bpf(Cmd.MAP_DELETE_ELEM, attr, detail=self._detail())
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        return True

    # -- iteration ------------------------------------------------------

    def _next_key(self, key: bytes | None) -> bytes | None:
        kbuf = self._key_buf(key) if key is not None else None
        nbuf = ctypes.create_string_buffer(self.key_size)
        attr = MapElemAttr(map_fd=self.fd, key=addr(kbuf), value=addr(nbuf))
        try:
            bpf(Cmd.MAP_GET_NEXT_KEY, attr, detail=self._detail())
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return nbuf.raw

    def keys(self) -> list[bytes]:
        """All keys, each once. When a program deletes the key we stand on,
        a hash map's GET_NEXT_KEY starts over from the first key; the seen-set
        drops the repeats and the step bound stops a map that churns forever."""
        out: list[bytes] = []
        seen: set[bytes] = set()
        key = None
        for _ in range(2 * self.max_entries + 2):
            key = self._next_key(key)
            if key is None:
                break
            if key not in seen:
                seen.add(key)
                out.append(key)
        return out

    def items(self) -> list[tuple[bytes, bytes | list[bytes]]]:
        """All (key, value) pairs: one batch syscall per few hundred
        elements where the kernel supports it, else key by key."""
        if has_batch_ops(self.map_type):
            try:
                return self._items_batch()
            except BpfSyscallError as e:
                if e.errno not in _NO_BATCH_ERRNOS:
                    raise
        out = []
        for k in self.keys():
            v = self.lookup(k)
            if v is not None:  # deleted between keys() and lookup()
                out.append((k, v))
        return out

    def _items_batch(self) -> list[tuple[bytes, bytes | list[bytes]]]:
        count = _BATCH_COUNT
        # Hash maps use a u32 bucket cursor, array maps a key: room for both.
        cursor_size = max(self.key_size, 8)
        in_batch = ctypes.create_string_buffer(cursor_size)
        out_batch = ctypes.create_string_buffer(cursor_size)
        out = []
        first = True
        while True:
            keys = ctypes.create_string_buffer(count * self.key_size)
            vals = ctypes.create_string_buffer(count * self.value_buf_size)
            attr = MapBatchAttr(in_batch=0 if first else addr(in_batch),
                                out_batch=addr(out_batch), keys=addr(keys),
                                values=addr(vals), count=count, map_fd=self.fd)
            done = False
            try:
                bpf(Cmd.MAP_LOOKUP_BATCH, attr, detail=self._detail())
            except BpfSyscallError as e:
                if e.errno == errno.ENOSPC:
                    # One hash bucket holds more than count elements; the
                    # cursor did not move, so retry with more room.
                    count *= 2
                    continue
                if e.errno != errno.ENOENT:
                    raise
                done = True  # ENOENT: end reached; count says what came back
            n = attr.count
            vs = self.value_buf_size
            for i in range(n):
                out.append((keys.raw[i * self.key_size:(i + 1) * self.key_size],
                            self._split_value(vals.raw[i * vs:(i + 1) * vs])))
            if done:
                return out
            ctypes.memmove(in_batch, out_batch, cursor_size)
            first = False

    def clear(self) -> None:
        """Remove every element; array maps, which cannot lose elements,
        have every value zeroed instead."""
        if self.map_type in ARRAY_MAP_TYPES:
            zero = bytes(self.value_size)
            for i in range(self.max_entries):
                self.update(i.to_bytes(self.key_size, "little"), zero)
            return
        for k in self.keys():
            self.delete(k)

    # -- metadata and lifetime -------------------------------------------

    def info(self) -> MapInfoData:
        info = MapInfo()
        attr = InfoByFdAttr(bpf_fd=self.fd, info_len=ctypes.sizeof(info),
                            info=addr(info))
        bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, detail=self._detail())
        return MapInfoData(id=info.id, type=info.type,
                           name=info.name.decode(errors="replace"),
                           key_size=info.key_size, value_size=info.value_size,
                           max_entries=info.max_entries,
                           map_flags=info.map_flags)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        close_fd(fd)

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def __enter__(self) -> "BpfMap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"BpfMap(fd={self.fd}, type={_type_name(self.map_type)}, "
                f"name={self.name!r}, key_size={self.key_size}, "
                f"value_size={self.value_size}, "
                f"max_entries={self.max_entries})")

    def _detail(self) -> str:
        return _describe(self.map_type, self.name)


def _type_name(map_type: int) -> str:
    try:
        return MapType(map_type).name
    except ValueError:
        return str(map_type)


def _describe(map_type: int, name: str) -> str:
    return f"map {name or '(unnamed)'} of type {_type_name(map_type)}"


def map_get_fd_by_id(map_id: int) -> int:
    """An fd for the map with kernel id ``map_id``."""
    return bpf(Cmd.MAP_GET_FD_BY_ID, GetNextIdAttr(start_id=map_id))


# Map types whose batch support is worth probing (the ones tracers use).
_BATCH_PROBE_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH,
                                MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}
                               ) | ARRAY_MAP_TYPES


@functools.cache
def has_batch_ops(map_type: int) -> bool:
    """Whether BPF_MAP_LOOKUP_BATCH works on maps of ``map_type``."""
    if map_type not in _BATCH_PROBE_TYPES:
        return False
    value_size = 8
    try:
        m = BpfMap.create(map_type, 4, value_size, 4)
    except BpfSyscallError:
        return False
    with m:
        n = 4
        keys = ctypes.create_string_buffer(4 * n)
        vals = ctypes.create_string_buffer(m.value_buf_size * n)
        cursor = ctypes.create_string_buffer(8)
        attr = MapBatchAttr(out_batch=addr(cursor), keys=addr(keys),
                            values=addr(vals), count=n, map_fd=m.fd)
        try:
            bpf(Cmd.MAP_LOOKUP_BATCH, attr)
        except BpfSyscallError as e:
            # ENOENT: the walk reached the end (of an empty hash map).
            return e.errno == errno.ENOENT
    return True
