"""The two bpf() calls the suite needs, through ctypes, so that it does not
depend on bpfscope being importable: an fd for a program id
(BPF_PROG_GET_FD_BY_ID) and its translated length (BPF_OBJ_GET_INFO_BY_FD)."""

from __future__ import annotations

import ctypes
import os
import platform

_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytearray) -> int:
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    r = _libc.syscall(_NR_BPF, cmd, buf, len(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def xlated_insns(prog_id: int) -> int | None:
    """xlated_prog_len / 8 of program ``prog_id``; None if it is gone."""
    attr = bytearray(128)
    attr[0:4] = prog_id.to_bytes(4, "little")          # prog_id
    try:
        fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr)
    except OSError:
        return None
    try:
        info = (ctypes.c_uint8 * 256)()                   # struct bpf_prog_info
        attr = bytearray(128)
        attr[0:4] = fd.to_bytes(4, "little")               # bpf_fd
        attr[4:8] = (256).to_bytes(4, "little")            # info_len
        attr[8:16] = ctypes.addressof(info).to_bytes(8, "little")  # info
        _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        # struct bpf_prog_info: type u32, id u32, tag[8], jited_prog_len u32,
        # xlated_prog_len u32 at offset 20
        return int.from_bytes(bytes(info[20:24]), "little") // 8
    finally:
        os.close(fd)


# ------------------------------------------------- the physical floor program

BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
BPF_MAP_TYPE_PERCPU_ARRAY, BPF_PROG_TYPE_TRACEPOINT = 6, 5
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}.get(platform.machine(), 298)
PERF_TYPE_TRACEPOINT = 2
PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF = 0x2400, 0x40042408


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return bytes([code, (src << 4) | dst]) + off.to_bytes(2, "little", signed=True) \
        + imm.to_bytes(4, "little", signed=True)


def floor_program(map_fd: int) -> bytes:
    """The least a count can cost: look up slot 0 of a per-CPU array and
    add one to it (11 instructions, written by hand)."""
    return b"".join([
        _insn(0x62, 10, 0, -4, 0),        # *(u32 *)(r10 - 4) = 0
        _insn(0xbf, 2, 10),               # r2 = r10
        _insn(0x07, 2, 0, 0, -4),         # r2 += -4
        _insn(0x18, 1, 1, 0, map_fd),     # r1 = map (ld_imm64, BPF_PSEUDO_MAP_FD)
        _insn(0x00),
        _insn(0x85, 0, 0, 0, 1),          # call bpf_map_lookup_elem
        _insn(0x15, 0, 0, 3, 0),          # if r0 == 0 goto +3
        _insn(0x79, 1, 0, 0, 0),          # r1 = *(u64 *)(r0 + 0)
        _insn(0x07, 1, 0, 0, 1),          # r1 += 1
        _insn(0x7b, 0, 1, 0, 0),          # *(u64 *)(r0 + 0) = r1
        _insn(0xb7, 0, 0, 0, 0),          # r0 = 0
        _insn(0x95),                      # exit
    ])


class FloorProgram:
    """``floor_program`` on a tracepoint (``category/name``), attached
    through perf_event_open, in this process: its fds are ours, so
    harness.fdinfo_progs(os.getpid()) reads its bpf_stats. ``close()``
    detaches it."""

    def __init__(self, tracepoint: str):
        self.fds: list[int] = []
        try:
            attr = bytearray(128)
            attr[0:4] = BPF_MAP_TYPE_PERCPU_ARRAY.to_bytes(4, "little")
            attr[4:8] = (4).to_bytes(4, "little")       # key_size
            attr[8:12] = (8).to_bytes(4, "little")      # value_size
            attr[12:16] = (1).to_bytes(4, "little")     # max_entries
            map_fd = _bpf(BPF_MAP_CREATE, attr)
            self.fds.append(map_fd)
            code = floor_program(map_fd)
            insns = (ctypes.c_char * len(code)).from_buffer_copy(code)
            lic = ctypes.create_string_buffer(b"GPL")
            attr = bytearray(128)
            attr[0:4] = BPF_PROG_TYPE_TRACEPOINT.to_bytes(4, "little")
            attr[4:8] = (len(code) // 8).to_bytes(4, "little")
            attr[8:16] = ctypes.addressof(insns).to_bytes(8, "little")
            attr[16:24] = ctypes.addressof(lic).to_bytes(8, "little")
            prog_fd = _bpf(BPF_PROG_LOAD, attr)
            self.fds.append(prog_fd)
            with open(f"/sys/kernel/tracing/events/{tracepoint}/id") as f:
                tp_id = int(f.read())
            pattr = bytearray(128)
            pattr[0:4] = PERF_TYPE_TRACEPOINT.to_bytes(4, "little")
            pattr[4:8] = (128).to_bytes(4, "little")    # size
            pattr[8:16] = tp_id.to_bytes(8, "little")   # config
            pattr[16:24] = (1).to_bytes(8, "little")    # sample_period
            buf = (ctypes.c_char * len(pattr)).from_buffer(pattr)
            # any pid, CPU 0, no group, CLOEXEC: a tracepoint runs its programs on
            # every CPU whichever CPU the event was opened on
            pfd = _libc.syscall(_NR_PERF_EVENT_OPEN, buf, -1, 0, -1, 8)
            if pfd < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            self.fds.append(pfd)
            _libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_long]
            for req, arg in ((PERF_EVENT_IOC_SET_BPF, prog_fd), (PERF_EVENT_IOC_ENABLE, 0)):
                if _libc.ioctl(pfd, req, arg) < 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for fd in reversed(self.fds):
            os.close(fd)
        self.fds = []
