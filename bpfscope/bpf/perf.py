"""perf_event_open(2) and the perf ioctls BPF attachment needs (tracepoint,
software, hardware and breakpoint events), plus the list of online CPUs."""

from __future__ import annotations

import ctypes
import fcntl
import functools

from .attrs import PerfEventAttr
from .consts import (PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ENABLE,
                     PERF_EVENT_IOC_SET_BPF, PERF_FLAG_FD_CLOEXEC, PerfAttrFlag,
                     PerfType)
from .sys import errno_text, parse_cpu_list, raw_syscall, syscall_number


class PerfEventError(OSError):
    """perf_event_open(2) failed; the message names the event."""

    def __init__(self, err: int, what: str):
        super().__init__(err, errno_text(err))
        self.what = what

    def __str__(self) -> str:
        return f"perf_event_open({self.what}) failed: {self.strerror}"


def _describe(ptype: int, config: int, cpu: int, pid: int) -> str:
    try:
        tname = PerfType(ptype).name.lower()
    except ValueError:
        tname = f"type {ptype}"
    return f"{tname} config={config:#x} cpu={cpu} pid={pid}"


def perf_event_open(type: int, config: int, sample_period: int = 0,
                    sample_freq: int = 0, pid: int = -1, cpu: int = 0,
                    flags: int = PERF_FLAG_FD_CLOEXEC, wakeup_events: int = 1,
                    disabled: bool = False, config1: int = 0, config2: int = 0,
                    sample_type: int = 0, attr_flags: int = 0, bp_type: int = 0,
                    group_fd: int = -1) -> int:
    """Open one perf event and return its fd.

    ``sample_freq`` (samples per second) wins over ``sample_period`` when
    given. ``attr_flags`` adds further PerfAttrFlag bits. For breakpoints
    ``config1``/``config2`` are the kernel's bp_addr/bp_len.
    """
    attr = PerfEventAttr(type=type, size=ctypes.sizeof(PerfEventAttr),
                         config=config, sample_type=sample_type,
                         wakeup_events=wakeup_events, bp_type=bp_type,
                         config1=config1, config2=config2)
    bits = int(attr_flags)
    if sample_freq:
        attr.sample_period = sample_freq
        bits |= PerfAttrFlag.FREQ
    else:
        attr.sample_period = sample_period
    if disabled:
        bits |= PerfAttrFlag.DISABLED
    attr.flags = bits
    fd, err = raw_syscall(syscall_number("perf_event_open"), ctypes.byref(attr),
                          ctypes.c_int(pid), ctypes.c_int(cpu),
                          ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if fd < 0:
        raise PerfEventError(err, _describe(type, config, cpu, pid))
    return fd


def ioctl_enable(fd: int) -> None:
    fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)


def ioctl_disable(fd: int) -> None:
    fcntl.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0)


def ioctl_set_bpf(fd: int, prog_fd: int) -> None:
    """Attach a program to a perf event the old way (before BPF links)."""
    fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)


@functools.cache
def online_cpus() -> list[int]:
    with open("/sys/devices/system/cpu/online") as f:
        return parse_cpu_list(f.read())
