"""Fixtures for the bpf layer tests: a skip when BPF cannot be used, a tiny
instruction encoder (kept here so these tests do not depend on codegen/),
and a check that a test leaves no kernel object behind."""

from __future__ import annotations

import os
import struct
import time
import types

import pytest


def _bpf_usable() -> str | None:
    """None if BPF objects can be created here, else the reason why not."""
    if os.geteuid() != 0:
        return "needs root to create BPF objects"
    from bpfscope.bpf.consts import MapType
    from bpfscope.bpf.maps import BpfMap
    from bpfscope.bpf.sys import BpfSyscallError
    try:
        BpfMap.create(MapType.ARRAY, 4, 4, 1).close()
    except (BpfSyscallError, OSError) as e:
        return f"bpf(2) unavailable: {e}"
    return None


@pytest.fixture(scope="session")
def kernel():
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)


def _insn(code, dst=0, src=0, off=0, imm=0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _ld_imm64(dst, imm64, src=0) -> bytes:
    return (_insn(0x18, dst, src, 0, imm64 & 0xFFFFFFFF)
            + _insn(0, 0, 0, 0, (imm64 >> 32) & 0xFFFFFFFF))


# The handful of eBPF instructions the tests need (opcode values from the
# kernel's instruction set document).
ASM = types.SimpleNamespace(
    insn=_insn,
    mov_imm=lambda dst, imm: _insn(0xB7, dst, 0, 0, imm),
    mov_reg=lambda dst, src: _insn(0xBF, dst, src),
    add_imm=lambda dst, imm: _insn(0x07, dst, 0, 0, imm),
    rsh_imm=lambda dst, imm: _insn(0x77, dst, 0, 0, imm),
    ldx_dw=lambda dst, src, off: _insn(0x79, dst, src, off),
    stx_dw=lambda dst, src, off: _insn(0x7B, dst, src, off),
    st_w=lambda dst, off, imm: _insn(0x62, dst, 0, off, imm),
    atomic_add_dw=lambda dst, src, off: _insn(0xDB, dst, src, off, 0),
    jeq_imm=lambda dst, imm, off: _insn(0x15, dst, 0, off, imm),
    jne_imm=lambda dst, imm, off: _insn(0x55, dst, 0, off, imm),
    call=lambda helper: _insn(0x85, 0, 0, 0, helper),
    exit=lambda: _insn(0x95),
    ld_imm64=_ld_imm64,
    ld_map_fd=lambda dst, fd: _ld_imm64(dst, fd, src=1),  # BPF_PSEUDO_MAP_FD
)

HELPER_MAP_LOOKUP_ELEM = 1
HELPER_GET_CURRENT_PID_TGID = 14
HELPER_RINGBUF_OUTPUT = 130
HELPER_RINGBUF_RESERVE = 131
HELPER_RINGBUF_DISCARD = 133


def count_into(map_fd: int) -> bytes:
    """Body that adds 1 to the u64 at key 0 (u32) of array ``map_fd``."""
    a = ASM
    return b"".join([
        a.st_w(10, -4, 0),
        a.ld_map_fd(1, map_fd),
        a.mov_reg(2, 10), a.add_imm(2, -4),
        a.call(HELPER_MAP_LOOKUP_ELEM),
        a.jeq_imm(0, 0, 2),
        a.mov_imm(1, 1),
        a.atomic_add_dw(0, 1, 0),
        a.mov_imm(0, 0),
        a.exit(),
    ])


@pytest.fixture
def asm():
    return types.SimpleNamespace(
        **vars(ASM), count_into=count_into,
        MAP_LOOKUP_ELEM=HELPER_MAP_LOOKUP_ELEM,
        GET_CURRENT_PID_TGID=HELPER_GET_CURRENT_PID_TGID,
        RINGBUF_OUTPUT=HELPER_RINGBUF_OUTPUT,
        RINGBUF_RESERVE=HELPER_RINGBUF_RESERVE,
        RINGBUF_DISCARD=HELPER_RINGBUF_DISCARD)


def wait_gone(ids_now, ids: set[int], timeout: float = 3.0) -> set[int]:
    """Ids of ``ids`` still alive after ``timeout``; the kernel frees maps
    and programs after an RCU grace period, not at close()."""
    deadline = time.monotonic() + timeout
    while True:
        left = ids & set(ids_now())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


@pytest.fixture
def no_leaks(kernel):
    """Collects ids of objects a test creates (``track_prog/map/link``)
    and asserts after the test that every one of them is gone. Ids, not
    global counts: other test runs on the machine create objects too."""
    from bpfscope.bpf.link import link_info
    from bpfscope.bpf.objects import link_ids, map_ids, prog_ids
    from bpfscope.bpf.prog import prog_info

    seen = {"prog": set(), "map": set(), "link": set()}
    ns = types.SimpleNamespace(
        prog=lambda fd: seen["prog"].add(prog_info(fd).id) or fd,
        map=lambda m: seen["map"].add(m.info().id) or m,
        link=lambda fd: seen["link"].add(link_info(fd)[1]) or fd,
        seen=seen)
    yield ns
    assert not wait_gone(prog_ids, seen["prog"]), "programs leaked"
    assert not wait_gone(map_ids, seen["map"]), "maps leaked"
    assert not wait_gone(link_ids, seen["link"]), "links leaked"
