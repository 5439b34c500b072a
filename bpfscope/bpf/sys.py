"""The bpf(2) system call through ctypes, its error type, and the few facts
about the machine (CPU count, page size, memlock limit) every BPF user needs."""

from __future__ import annotations

import ctypes
import errno as errno_mod
import functools
import os
import resource

from .attrs import (  # noqa: F401  (re-exported: the attr layouts live there)
    EnableStatsAttr, GetNextIdAttr, InfoByFdAttr, LinkCreateAttr, LinkInfo,
    MapBatchAttr, MapCreateAttr, MapElemAttr, MapInfo, PerfEventAttr,
    ProgInfoStruct, ProgLoadAttr, RawTracepointOpenAttr, TestRunAttr,
)
from .consts import ENOTSUPP, Cmd

_SYSCALL_NUMBERS = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def syscall_number(name: str) -> int:
    """The number of system call ``name`` on this machine's architecture."""
    arch = os.uname().machine
    try:
        return _SYSCALL_NUMBERS[arch][name]
    except KeyError:
        raise OSError(errno_mod.ENOSYS,
                      f"{name}: unsupported architecture {arch}") from None


def raw_syscall(nr: int, *args) -> tuple[int, int]:
    """libc syscall(nr, *args) -> (return value, errno). ``args`` are ctypes
    values or ints that fit a C long."""
    ctypes.set_errno(0)
    ret = _libc.syscall(ctypes.c_long(nr), *args)
    return ret, ctypes.get_errno()


def errno_text(err: int) -> str:
    if err == ENOTSUPP:  # kernel-internal, unknown to libc's strerror
        return "Operation not supported (ENOTSUPP)"
    name = errno_mod.errorcode.get(err, str(err))
    return f"{os.strerror(err)} ({name})"


class BpfSyscallError(OSError):
    """bpf(2) failed. ``errno`` is the kernel's error, ``cmd`` the command."""

    def __init__(self, err: int, cmd: int, detail: str = ""):
        super().__init__(err, errno_text(err))
        self.cmd = cmd
        self.detail = detail

    def __str__(self) -> str:
        try:
            cmd = f"BPF_{Cmd(self.cmd).name}"
        except ValueError:
            cmd = f"command {self.cmd}"
        msg = f"bpf({cmd}) failed: {self.strerror}"
        return f"{msg}: {self.detail}" if self.detail else msg


@functools.cache
def raise_memlock_limit() -> None:
    """Lift RLIMIT_MEMLOCK, which kernels before 5.11 charge BPF memory to.
    Newer kernels use memcg accounting, so failure here is not fatal."""
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (OSError, ValueError):
        pass


def bpf(cmd: int, attr: ctypes.Structure, detail: str = "") -> int:
    """Run bpf(cmd, &attr, sizeof(attr)); return its result or raise
    BpfSyscallError (``detail`` is added to the message)."""
    raise_memlock_limit()
    nr = syscall_number("bpf")
    while True:
        ret, err = raw_syscall(nr, ctypes.c_int(int(cmd)), ctypes.byref(attr),
                               ctypes.c_uint(ctypes.sizeof(attr)))
        if ret >= 0:
            return ret
        if err != errno_mod.EINTR:  # loads can be interrupted by signals
            raise BpfSyscallError(err, int(cmd), detail)


def close_fd(fd: int | None) -> None:
    """Close ``fd``; an fd that is already closed (EBADF) is not an error."""
    if fd is None or fd < 0:
        return
    try:
        os.close(fd)
    except OSError as e:
        if e.errno != errno_mod.EBADF:
            raise


def parse_cpu_list(text: str) -> list[int]:
    """Parse the kernel's CPU list format ("0-3,5,7-8")."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


@functools.cache
def ncpus_possible() -> int:
    """Number of possible CPUs: how many slots a per-CPU map value has.
    The kernel sizes per-CPU values by the highest possible CPU id + 1."""
    with open("/sys/devices/system/cpu/possible") as f:
        return max(parse_cpu_list(f.read())) + 1


@functools.cache
def page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def addr(buf) -> int:
    """Address of a ctypes buffer as the u64 the kernel's attr fields want."""
    return ctypes.addressof(buf) if buf is not None else 0
