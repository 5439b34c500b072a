"""Loading BPF programs (with the verifier's log on failure), running them
with BPF_PROG_TEST_RUN, and reading their kernel statistics."""

from __future__ import annotations

import ctypes
import errno
import struct
from dataclasses import dataclass
from typing import Sequence

from .attrs import (EnableStatsAttr, GetNextIdAttr, InfoByFdAttr, ProgInfoStruct,
                    ProgLoadAttr, TestRunAttr)
from .consts import BPF_STATS_RUN_TIME, Cmd, ProgType
from .btfload import func_infos, load_btf
from .maps import sanitize_name
from .sys import BpfSyscallError, addr, bpf, close_fd

INSN_SIZE = 8
_LOG_START = 1 << 20
_LOG_MAX = 1 << 30  # the kernel rejects log_size above UINT_MAX >> 2
_LOG_STATS_PREFIXES = ("processed ", "verification time", "stack depth")


class ProgLoadError(BpfSyscallError):
    """The kernel refused a program; ``log`` is the verifier's log."""

    def __init__(self, err: int, log: str, detail: str = ""):
        super().__init__(err, Cmd.PROG_LOAD, detail)
        self.log = log

    @property
    def reason(self) -> str:
        """The verifier's complaint: the last log line that is not one of
        its closing statistics lines."""
        for line in reversed(self.log.strip().splitlines()):
            if not line.startswith(_LOG_STATS_PREFIXES):
                return line
        return ""

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}: {self.reason}" if self.reason else base


def _prog_type_name(prog_type: int) -> str:
    try:
        return ProgType(prog_type).name
    except ValueError:
        return str(prog_type)


def load_program(prog_type: int, insns: bytes, license: str = "GPL",
                 name: str = "", log_level: int = 0,
                 expected_attach_type: int = 0, attach_btf_id: int = 0,
                 kern_version: int = 0, attach_btf_obj_fd: int = 0,
                 prog_flags: int = 0,
                 functions: Sequence[tuple[int, str, tuple[str, ...]]] = ()) -> int:
    """Load ``insns`` (8 bytes per instruction) and return the program fd.

    If the load fails it is repeated with the verifier log on, so the error
    carries the reason. The log buffer grows while the kernel says ENOSPC.
    ``functions`` lists (first instruction, name, argument names) of
    each function when there are several: they are described in program
    BTF, which the verifier needs for callbacks.
    """
    if len(functions) > 1:
        btf_data, infos = func_infos(functions)
        btf_fd = load_btf(btf_data)
        try:
            return _load(prog_type, insns, license, name, log_level, expected_attach_type,
                         attach_btf_id, kern_version, attach_btf_obj_fd, prog_flags,
                         dict(prog_btf_fd=btf_fd, func_info=addr(infos),
                              func_info_rec_size=ctypes.sizeof(infos[0]),
                              func_info_cnt=len(infos)))
        finally:
            close_fd(btf_fd)  # the loaded program holds its own reference
    return _load(prog_type, insns, license, name, log_level, expected_attach_type,
                 attach_btf_id, kern_version, attach_btf_obj_fd, prog_flags, {})


def _load(prog_type, insns, license, name, log_level, expected_attach_type,
          attach_btf_id, kern_version, attach_btf_obj_fd, prog_flags, btf_attrs) -> int:
    if len(insns) % INSN_SIZE:
        raise ValueError(f"program is {len(insns)} bytes, not a multiple of 8")
    name = sanitize_name(name)
    code = ctypes.create_string_buffer(bytes(insns), len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    detail = f"program {name or '(unnamed)'} of type {_prog_type_name(prog_type)}"

    def attempt(level: int, log_size: int):
        log = ctypes.create_string_buffer(log_size) if level else None
        attr = ProgLoadAttr(
            prog_type=prog_type, insn_cnt=len(insns) // INSN_SIZE,
            insns=addr(code), license=addr(lic), log_level=level,
            log_size=log_size if level else 0, log_buf=addr(log),
            kern_version=kern_version, prog_flags=prog_flags,
            prog_name=name.encode(),
            expected_attach_type=expected_attach_type,
            attach_btf_id=attach_btf_id, attach_btf_obj_fd=attach_btf_obj_fd,
            **btf_attrs)
        try:
            return bpf(Cmd.PROG_LOAD, attr, detail=detail), None
        except BpfSyscallError as e:
            text = log.value.decode(errors="replace") if log is not None else ""
            return e, (text, attr.log_true_size)

    level = log_level
    if not level:
        # Fast path: no log. Only on failure is the load repeated to get one.
        result, _ = attempt(0, 0)
        if isinstance(result, int):
            return result
        level = 1
    log_size = _LOG_START
    while True:
        result, log = attempt(level, log_size)
        if isinstance(result, int):
            return result
        text, true_size = log
        if result.errno == errno.ENOSPC and log_size < _LOG_MAX:
            log_size = min(max(log_size * 4, true_size + 1), _LOG_MAX)
            continue
        raise ProgLoadError(result.errno, text, detail)


def prog_test_run(fd: int, data_in: bytes = b"",
                  ctx_in: bytes | Sequence[int] | None = None,
                  repeat: int = 1, cpu: int | None = None) -> int:
    """Run program ``fd`` once (or ``repeat`` times) through
    BPF_PROG_TEST_RUN and return its r0.

    ``ctx_in`` is the context as bytes, or for raw tracepoint programs a
    sequence of u64 arguments. Raw tracepoint programs accept no data, no
    repeat and no duration, so repeats are done here, one syscall each.
    """
    if ctx_in is not None and not isinstance(ctx_in, (bytes, bytearray)):
        ctx_in = struct.pack(f"<{len(ctx_in)}Q", *[v & (2**64 - 1) for v in ctx_in])
    ctx = ctypes.create_string_buffer(bytes(ctx_in), len(ctx_in)) if ctx_in else None
    data = ctypes.create_string_buffer(bytes(data_in), len(data_in)) if data_in else None
    is_raw_tp = prog_info(fd).type in (ProgType.RAW_TRACEPOINT,
                                       ProgType.RAW_TRACEPOINT_WRITABLE)
    runs, kernel_repeat = (max(repeat, 1), 0) if is_raw_tp else (1, repeat)
    flags, on_cpu = (1, cpu) if cpu is not None else (0, 0)
    retval = 0
    for _ in range(runs):
        attr = TestRunAttr(prog_fd=fd, data_in=addr(data),
                           data_size_in=len(data_in) if data else 0,
                           ctx_in=addr(ctx), ctx_size_in=len(ctx_in) if ctx else 0,
                           repeat=kernel_repeat, flags=flags, cpu=on_cpu)
        bpf(Cmd.PROG_TEST_RUN, attr, detail=f"program fd {fd}")
        retval = attr.retval
    return retval


@dataclass
class ProgInfo:
    """What BPF_OBJ_GET_INFO_BY_FD says about a program."""

    id: int
    type: int
    name: str
    tag: bytes
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    xlated_prog_len: int
    jited_prog_len: int


def prog_info(fd: int) -> ProgInfo:
    info = ProgInfoStruct()
    attr = InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=addr(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, detail=f"program fd {fd}")
    return ProgInfo(id=info.id, type=info.type,
                    name=info.name.decode(errors="replace"), tag=bytes(info.tag),
                    run_time_ns=info.run_time_ns, run_cnt=info.run_cnt,
                    recursion_misses=info.recursion_misses,
                    verified_insns=info.verified_insns,
                    xlated_prog_len=info.xlated_prog_len,
                    jited_prog_len=info.jited_prog_len)


def enable_stats(stats_type: int = BPF_STATS_RUN_TIME) -> int:
    """Turn on run_time_ns/run_cnt accounting for every program while the
    returned fd stays open (close it to turn the accounting off)."""
    return bpf(Cmd.ENABLE_STATS, EnableStatsAttr(type=stats_type))


def prog_get_fd_by_id(prog_id: int) -> int:
    """An fd for the program with kernel id ``prog_id``."""
    return bpf(Cmd.PROG_GET_FD_BY_ID, GetNextIdAttr(start_id=prog_id))
