"""Attaching programs: BPF links (LINK_CREATE), perf-event attachment with
its pre-link fallback, uprobe_multi links, and raw tracepoints."""

from __future__ import annotations

import ctypes
import errno
import struct

from .attrs import (InfoByFdAttr, IterCreateAttr, LinkCreateAttr, LinkInfo, ObjPinAttr,
                    RawTracepointOpenAttr, UprobeMultiAttr)
from .consts import AttachType, Cmd, LinkType
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


def iter_link(prog_fd: int) -> int:
    """A BPF iterator link for program ``prog_fd`` (loaded as a tracing
    program with expected_attach_type TRACE_ITER on FUNC bpf_iter_NAME)."""
    return link_create(prog_fd, 0, AttachType.TRACE_ITER)


def iter_create(link_fd: int) -> int:
    """BPF_ITER_CREATE: a new iterator of ``link_fd``; each read() of it
    runs the program on the next objects, 0 bytes at the end."""
    return bpf(Cmd.ITER_CREATE, IterCreateAttr(link_fd=link_fd), detail=f"link fd {link_fd}")


def obj_pin(fd: int, path: str) -> None:
    """BPF_OBJ_PIN: pin a program, map or link at ``path`` (in a bpffs)."""
    name = path.encode() + b"\0"
    buf = ctypes.create_string_buffer(name, len(name))
    bpf(Cmd.OBJ_PIN, ObjPinAttr(pathname=addr(buf), bpf_fd=fd), detail=f"pin {path}")


def attach_perf_event(prog_fd: int, perf_fd: int, cookie: int = 0, enable: bool = True) -> int:
    """Attach a program to an open perf event and enable the event.

    Returns a link fd whose closing detaches the program; on kernels without
    perf-event links the program is attached with PERF_EVENT_IOC_SET_BPF and
    ``perf_fd`` itself is returned (closing it detaches). Either way the
    caller still owns ``perf_fd``. ``enable`` False leaves a disabled event
    as it is (one opened with enable_on_exec, say).
    """
    try:
        fd = link_create(prog_fd, perf_fd, AttachType.PERF_EVENT, extra=cookie)
    except BpfSyscallError as e:
        if e.errno not in _NO_PERF_LINK:
            raise
        ioctl_set_bpf(perf_fd, prog_fd)
        if enable:
            ioctl_enable(perf_fd)
        return perf_fd
    if enable:
        ioctl_enable(perf_fd)
    return fd


BPF_F_UPROBE_MULTI_RETURN = 1


def uprobe_multi_link(prog_fd: int, path: str, offsets: list[int], retprobe: bool,
                      pid: int | None = None) -> int:
    """One link putting program ``prog_fd`` (loaded with expected_attach_type
    TRACE_UPROBE_MULTI) on every file offset of ``offsets`` in ``path``, at
    entry or (``retprobe``) return, in every process or only in ``pid``.
    Closing it removes all of them with one grace period, where separate
    perf events wait one each."""
    n = len(offsets)
    buf = ctypes.create_string_buffer(path.encode())
    offs = (ctypes.c_uint64 * n)(*offsets)
    attr = UprobeMultiAttr(prog_fd=prog_fd, attach_type=AttachType.TRACE_UPROBE_MULTI,
                           path=addr(buf), offsets=ctypes.addressof(offs), cnt=n,
                           uflags=BPF_F_UPROBE_MULTI_RETURN if retprobe else 0,
                           pid=pid or 0)
    return bpf(Cmd.LINK_CREATE, attr,
               detail=f"uprobe_multi link of {n} offsets in {path}, program fd {prog_fd}")


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


# struct bpf_link_info: the per-type union starts at byte 16. Linux 6.7
# added the missed counts of kprobe links (kprobe_multi.missed,
# perf_event.kprobe.missed); older kernels leave them 0.
KPROBE_MULTI_MISSED = 32
PERF_EVENT_TYPE = 16
PERF_EVENT_KPROBE_MISSED = 48
PERF_EVENT_KPROBE, PERF_EVENT_KRETPROBE = 3, 4   # enum bpf_perf_event_type


def kprobe_missed_of(raw: bytes) -> int | None:
    """The kprobe missed count in a bpf_link_info, None when the link is
    no kprobe link."""
    ltype = struct.unpack_from("=I", raw, 0)[0]
    if ltype == LinkType.KPROBE_MULTI:
        return struct.unpack_from("=Q", raw, KPROBE_MULTI_MISSED)[0]
    if (ltype == LinkType.PERF_EVENT and struct.unpack_from("=I", raw, PERF_EVENT_TYPE)[0]
            in (PERF_EVENT_KPROBE, PERF_EVENT_KRETPROBE)):
        return struct.unpack_from("=Q", raw, PERF_EVENT_KPROBE_MISSED)[0]
    return None


def kprobe_missed(fd: int) -> int | None:
    """How many hits the kernel's kprobe behind link ``fd`` missed (a
    kprobe that fired while another ran on its CPU, a kretprobe out of
    instances); None for other links and for fds that are no links."""
    info = LinkInfo()
    try:
        bpf(Cmd.OBJ_GET_INFO_BY_FD,
            InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=addr(info)))
    except BpfSyscallError:
        return None
    return kprobe_missed_of(bytes(info))
