"""Loading BTF into the kernel (BPF_BTF_LOAD) and describing a program's
functions with it.

A program made of several functions, one of which is passed to a helper as
a callback, must come with BTF and a ``func_info`` record per function
(the verifier checks that a callback has static linkage). The BTF object
only needs to live until the program is loaded: the program keeps its own
reference, so the fd is closed right after the load.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

from bpfscope.btf.encode import program_btf

from .attrs import BtfLoadAttr, FuncInfo
from .consts import Cmd
from .sys import BpfSyscallError, addr, bpf

_LOG_SIZE = 1 << 16


class BtfLoadError(BpfSyscallError):
    """The kernel refused a BTF blob; ``log`` says why."""

    def __init__(self, err: int, log: str):
        super().__init__(err, Cmd.BTF_LOAD, "program BTF")
        self.log = log

    def __str__(self) -> str:
        last = self.log.strip().splitlines()[-1:] or [""]
        return f"{super().__str__()}: {last[0]}" if last[0] else super().__str__()


def load_btf(data: bytes) -> int:
    """Load a BTF blob and return its fd; on failure the load is repeated
    with the log on, and the error carries it."""
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    try:
        return bpf(Cmd.BTF_LOAD, BtfLoadAttr(btf=addr(buf), btf_size=len(data)))
    except BpfSyscallError as first:
        log = ctypes.create_string_buffer(_LOG_SIZE)
        attr = BtfLoadAttr(btf=addr(buf), btf_size=len(data), btf_log_buf=addr(log),
                           btf_log_size=_LOG_SIZE, btf_log_level=1)
        try:
            return bpf(Cmd.BTF_LOAD, attr)
        except BpfSyscallError:
            pass
        raise BtfLoadError(first.errno, log.value.decode(errors="replace")) from None


def func_infos(functions: Sequence[tuple[int, str, tuple[str, ...]]]
               ) -> tuple[bytes, ctypes.Array]:
    """BTF and the func_info array for functions given as (first
    instruction, name, argument names)."""
    data, type_ids = program_btf([(name, args) for _, name, args in functions])
    records = (FuncInfo * len(functions))(
        *[FuncInfo(start, tid) for (start, _, _), tid in zip(functions, type_ids)])
    return data, records
