"""Reading a BPF_MAP_TYPE_RINGBUF map from user space.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position, which we
map read-write and advance; page 1 holds the producer position; the data
area follows, mapped twice in a row by the kernel so a record that wraps
around the end can be read in one piece. Each record starts with an 8-byte
header: u32 length (with BUSY and DISCARD bits) and u32 page offset.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import select
import struct
from typing import Callable

from .consts import (BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT,
                     BPF_RINGBUF_HDR_SZ, MapType)
from .maps import BpfMap
from .sys import page_size

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _mmap(length: int, prot: int, fd: int, offset: int) -> int:
    # libc mmap rather than the mmap module: we need raw addresses for
    # aligned 8-byte loads and stores of the positions, and a read-only
    # Python mmap cannot hand out one.
    p = _libc.mmap(None, length, prot, mmap.MAP_SHARED, fd, offset)
    if p is None or p == _MAP_FAILED:
        err = ctypes.get_errno()
        raise OSError(err, f"mmap of ring buffer failed: {errno.errorcode.get(err, err)}")
    return p


_HEADER = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class RingBuffer:
    """Consumer of one ring buffer map. ``callback(bytes)`` gets each
    committed record; its return value is ignored."""

    def __init__(self, map: BpfMap):
        if map.map_type != MapType.RINGBUF:
            raise ValueError(f"{map!r} is not a ring buffer")
        self.map = map
        self.size = map.max_entries
        self._mask = self.size - 1
        self._pg = page_size()
        self._cons_len = self._pg
        self._prod_len = self._pg + 2 * self.size
        self._cons = self._prod = None
        self._epoll = None
        self._view = None
        try:
            self._cons = _mmap(self._cons_len, mmap.PROT_READ | mmap.PROT_WRITE,
                               map.fd, 0)
            self._prod = _mmap(self._prod_len, mmap.PROT_READ, map.fd, self._pg)
            self._epoll = select.epoll()
            self._epoll.register(map.fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise
        self._cons_pos = ctypes.c_uint64.from_address(self._cons)
        self._prod_pos = ctypes.c_uint64.from_address(self._prod)
        self._data = self._prod + self._pg
        self._view = memoryview((ctypes.c_ubyte * (2 * self.size)).from_address(self._data))

    def fileno(self) -> int:
        """The epoll fd: readable when the kernel has woken consumers."""
        return self._epoll.fileno()

    def poll(self, timeout_ms: int, callback: Callable[[bytes], object]) -> int:
        """Wait up to ``timeout_ms`` (-1: forever) for data, then consume.
        Returns the number of records handed to ``callback``."""
        self.wait(timeout_ms)
        return self.consume(callback)

    def wait(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` (-1: forever) for the kernel to wake
        consumers (or a signal)."""
        try:
            self._epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1)
        except InterruptedError:
            pass

    def consume(self, callback: Callable[[bytes], object]) -> int:
        """Hand every committed record to ``callback`` in order; stop at the
        first record still being written. Returns how many were handed."""
        return self.consume_texts({}, None, callback)

    def consume_texts(self, texts: dict, write: Callable[[str], object],
                      callback: Callable[[bytes], object], batch: int = 4096) -> int:
        """As :meth:`consume`, for a stream where most records become text:
        a record whose first u64 is a key of ``texts`` is turned into text
        by ``texts[key](data, offset)`` right in the mapped ring (no copy,
        no callback), and the texts of a run of such records go to
        ``write`` joined, at most ``batch`` at a time; any other record goes
        to ``callback`` as consume() hands it, after the texts before it
        were written. ``texts`` is read at each record, so a callback may
        empty it to send every later record to ``callback``.

        Only what was committed when it started is read: under a steady
        stream of events a caller must get control back to notice signals
        and exits. The data area is mapped twice in a row, so a record that
        wraps around is still one contiguous slice. A record's space is
        released before its callback runs, so a slow or raising callback
        does not make the kernel drop."""
        if self._prod is None:
            raise ValueError("ring buffer is closed")
        n = 0
        cons = self._cons_pos.value
        view, mask, header, u64 = self._view, self._mask, _HEADER.unpack_from, _U64.unpack_from
        busy, discard, hdr = BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ
        prod = self._prod_pos.value
        out: list[str] = []
        get = texts.get
        try:
            while cons < prod:
                (length,) = header(view, cons & mask)
                if length & busy:
                    break
                size = length & ~(busy | discard)
                start = cons + hdr
                cons = (start + size + 7) & ~7
                if length & discard:
                    continue
                n += 1
                off = start & mask
                text = get(u64(view, off)[0]) if texts and size >= 8 else None
                if text is not None:
                    out.append(text(view, off + 8))
                    if len(out) >= batch:
                        self._cons_pos.value = cons
                        write("".join(out))
                        out.clear()
                    continue
                record = bytes(view[off:off + size])
                self._cons_pos.value = cons
                if out:
                    write("".join(out))
                    out.clear()
                callback(record)
        finally:
            self._cons_pos.value = cons
            if out:
                write("".join(out))
        return n

    def close(self) -> None:
        self._view = None  # no view may outlive the mapping
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        if self._prod:
            _libc.munmap(self._prod, self._prod_len)
            self._prod = None
        if self._cons:
            _libc.munmap(self._cons, self._cons_len)
            self._cons = None

    def __enter__(self) -> "RingBuffer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
