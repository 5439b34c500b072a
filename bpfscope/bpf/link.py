"""Attaching programs: BPF links (LINK_CREATE), perf-event attachment with
its pre-link fallback, and raw tracepoints."""

from __future__ import annotations

import ctypes
import errno

from .attrs import InfoByFdAttr, LinkCreateAttr, LinkInfo, RawTracepointOpenAttr
from .consts import AttachType, Cmd
from .perf import ioctl_enable, ioctl_set_bpf
from .sys import BpfSyscallError, addr, bpf

# Errnos with which a kernel without perf-event links refuses LINK_CREATE.
_NO_PERF_LINK = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, 524)


def link_create(prog_fd: int, target_fd: int, attach_type: int,
                flags: int = 0, extra: int = 0) -> int:
    """BPF_LINK_CREATE; ``extra`` is the first u64 of the per-type union
    (the bpf_cookie of a perf-event link, target_btf_id of a tracing one)."""
    try:
        name = AttachType(attach_type).name
    except ValueError:
        name = str(attach_type)
    attr = LinkCreateAttr(prog_fd=prog_fd, target_fd=target_fd,
                          attach_type=attach_type, flags=flags, extra=extra)
    return bpf(Cmd.LINK_CREATE, attr,
               detail=f"attach type {name}, program fd {prog_fd}, "
                      f"target fd {target_fd}")


def attach_perf_event(prog_fd: int, perf_fd: int, cookie: int = 0) -> int:
    """Attach a program to an open perf event and enable the event.

    Returns a link fd whose closing detaches the program; on kernels without
    perf-event links the program is attached with PERF_EVENT_IOC_SET_BPF and
    ``perf_fd`` itself is returned (closing it detaches). Either way the
    caller still owns ``perf_fd``.
    """
    try:
        fd = link_create(prog_fd, perf_fd, AttachType.PERF_EVENT, extra=cookie)
    except BpfSyscallError as e:
        if e.errno not in _NO_PERF_LINK:
            raise
        ioctl_set_bpf(perf_fd, prog_fd)
        ioctl_enable(perf_fd)
        return perf_fd
    ioctl_enable(perf_fd)
    return fd


def raw_tracepoint_open(name: str | None, prog_fd: int) -> int:
    """Attach a raw tracepoint program to tracepoint ``name`` (None for
    programs whose attach target was fixed at load time, e.g. fentry)."""
    buf = ctypes.create_string_buffer(name.encode()) if name else None
    attr = RawTracepointOpenAttr(name=addr(buf), prog_fd=prog_fd)
    return bpf(Cmd.RAW_TRACEPOINT_OPEN, attr,
               detail=f"raw tracepoint {name or '(from BTF)'}")


def link_info(fd: int) -> tuple[int, int, int]:
    """(link type, link id, program id) of link ``fd``."""
    info = LinkInfo()
    bpf(Cmd.OBJ_GET_INFO_BY_FD,
        InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=addr(info)),
        detail=f"link fd {fd}")
    return info.type, info.id, info.prog_id
