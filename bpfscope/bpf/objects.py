"""Counting the BPF objects the kernel holds (all processes), which tests
use to prove that closing a session leaves nothing behind."""

from __future__ import annotations

import errno

from .attrs import GetNextIdAttr
from .consts import Cmd
from .sys import BpfSyscallError, bpf


def object_ids(cmd: int) -> list[int]:
    """Ids walked with a *_GET_NEXT_ID command, ascending."""
    ids: list[int] = []
    start = 0
    while True:
        attr = GetNextIdAttr(start_id=start)
        try:
            bpf(cmd, attr)
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                return ids
            raise
        ids.append(attr.next_id)
        start = attr.next_id


def prog_ids() -> list[int]:
    return object_ids(Cmd.PROG_GET_NEXT_ID)


def map_ids() -> list[int]:
    return object_ids(Cmd.MAP_GET_NEXT_ID)


def link_ids() -> list[int]:
    return object_ids(Cmd.LINK_GET_NEXT_ID)


def btf_ids() -> list[int]:
    return object_ids(Cmd.BTF_GET_NEXT_ID)


def count_kernel_objects() -> tuple[int, int, int]:
    """(programs, maps, links) alive in the kernel right now."""
    return len(prog_ids()), len(map_ids()), len(link_ids())
