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
