"""What the running kernel supports, probed once and cached: each probe
creates a throwaway object and reports whether the kernel accepted it."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct

from .attrs import MapBatchAttr
from .consts import (ARRAY_MAP_TYPES, AttachType, Cmd,
                     MapType, PerfSwId, PerfType, ProgType)
from .link import link_create
from .maps import BpfMap
from .perf import PerfEventError, perf_event_open
from .prog import load_program
from .sys import BpfSyscallError, addr, bpf, close_fd, page_size

# r0 = 0; exit
_RETURN_ZERO = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)

# Map types whose batch support is worth probing (the ones tracers use).
_BATCH_PROBE_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH,
                                MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}
                               ) | ARRAY_MAP_TYPES


@functools.cache
def kernel_release() -> str:
    """The running kernel's release string (uname -r)."""
    return os.uname().release


@functools.cache
def has_ringbuf() -> bool:
    try:
        BpfMap.create(MapType.RINGBUF, 0, 0, page_size()).close()
    except BpfSyscallError:
        return False
    return True


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


@functools.cache
def has_link_perf_event() -> bool:
    """Whether BPF_LINK_CREATE can attach to a perf event (5.15+)."""
    try:
        prog = load_program(ProgType.PERF_EVENT, _RETURN_ZERO)
    except BpfSyscallError:
        return False
    try:
        pfd = perf_event_open(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK,
                              sample_period=1_000_000_000, cpu=0, disabled=True)
    except PerfEventError:
        close_fd(prog)
        return False
    try:
        close_fd(link_create(prog, pfd, AttachType.PERF_EVENT))
        return True
    except BpfSyscallError:
        return False
    finally:
        close_fd(pfd)
        close_fd(prog)

