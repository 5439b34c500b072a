"""What the running kernel supports, probed once and cached: each probe
creates a throwaway object and reports whether the kernel accepted it."""

from __future__ import annotations

import functools
import os
import struct

from .consts import AttachType, MapType, PerfSwId, PerfType, ProgType
from .link import link_create
from .maps import BpfMap, has_batch_ops  # noqa: F401 - maps.py needs it itself
from .perf import PerfEventError, perf_event_open
from .prog import load_program
from .sys import BpfSyscallError, close_fd, page_size

# r0 = 0; exit
_RETURN_ZERO = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)


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

