"""bpf/prog.py: loading, the verifier log on failure, BPF_PROG_TEST_RUN for
socket filters and raw tracepoint programs, and program info."""

import errno
import struct
import time

import pytest

from bpfscope.bpf.consts import MapType, ProgType
from bpfscope.bpf.maps import BpfMap
from bpfscope.bpf.prog import ProgLoadError, load_program, prog_info, prog_test_run
from bpfscope.bpf.sys import BpfSyscallError, close_fd


def test_load_and_info(no_leaks, asm):
    code = asm.mov_imm(0, 7) + asm.exit()
    fd = no_leaks.prog(load_program(ProgType.RAW_TRACEPOINT, code,
                                    name="bpfscope:test"))
    try:
        info = prog_info(fd)
        assert info.type == ProgType.RAW_TRACEPOINT
        assert info.name == "bpfscope_test"
        assert info.id > 0
        assert info.xlated_prog_len == 16
        assert info.verified_insns == 2
        assert prog_test_run(fd) == 7
    finally:
        close_fd(fd)


def test_raw_tracepoint_ctx_args(kernel, asm):
    # r0 = ctx->args[1] + ctx->args[2]
    code = (asm.ldx_dw(0, 1, 8) + asm.ldx_dw(2, 1, 16)
            + asm.insn(0x0F, 0, 2) + asm.exit())  # 0x0f: r0 += r2
    fd = load_program(ProgType.RAW_TRACEPOINT, code)
    try:
        assert prog_test_run(fd, ctx_in=[100, 20, 3]) == 23
        assert prog_test_run(fd, ctx_in=struct.pack("<3Q", 0, 5, 6)) == 11
        # Raw tracepoints refuse kernel-side repeat: done in user space.
        assert prog_test_run(fd, ctx_in=[0, 1, 1], repeat=3) == 2
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            stats_on = f.read().strip() != "0"
        # run counts are kept only while kernel.bpf_stats_enabled is set
        assert prog_info(fd).run_cnt == (5 if stats_on else 0)
    finally:
        close_fd(fd)


def test_verifier_log_in_error(no_leaks, asm):
    code = asm.mov_reg(0, 2) + asm.exit()  # r2 was never written
    with pytest.raises(ProgLoadError) as ei:
        load_program(ProgType.RAW_TRACEPOINT, code, name="broken")
    e = ei.value
    assert e.errno == errno.EACCES
    assert "R2 !read_ok" in e.log
    assert e.reason == "R2 !read_ok"
    assert str(e).endswith(": R2 !read_ok")
    assert "program broken of type RAW_TRACEPOINT" in str(e)
    assert isinstance(e, BpfSyscallError)


def test_verifier_log_grows_past_first_buffer(kernel, asm):
    # Log level 2 logs every instruction's state: a long, valid program
    # fails only on its last instruction so the log is large.
    body = asm.mov_imm(3, 1) * 30000
    code = body + asm.mov_reg(0, 2) + asm.exit()
    with pytest.raises(ProgLoadError) as ei:
        load_program(ProgType.RAW_TRACEPOINT, code, log_level=2)
    assert len(ei.value.log) > 1 << 20
    assert ei.value.reason == "R2 !read_ok"


def test_socket_filter_increments_map(no_leaks, asm):
    with no_leaks.map(BpfMap.create(MapType.ARRAY, 4, 8, 1)) as m:
        fd = no_leaks.prog(load_program(ProgType.SOCKET_FILTER,
                                        asm.count_into(m.fd)))
        try:
            packet = bytes(64)
            assert prog_test_run(fd, data_in=packet, repeat=5) == 0
            assert m.lookup(struct.pack("<I", 0)) == struct.pack("<Q", 5)
        finally:
            close_fd(fd)


def test_odd_length_rejected():
    with pytest.raises(ValueError):
        load_program(ProgType.RAW_TRACEPOINT, b"\0" * 12)


def _sum_with_callback(asm, map_fd: int) -> tuple[bytes, int]:
    """main: bpf_for_each_map_elem(map, cb, &sum, 0), return sum; cb adds
    each u64 value to *ctx. Returns the code and the callback's start."""
    cb_start = 11
    main = b"".join([
        asm.insn(0x7A, 10, 0, -8, 0),                      # *(u64 *)(r10 - 8) = 0
        asm.ld_map_fd(1, map_fd),
        asm.ld_imm64(2, cb_start - 4, src=4),              # BPF_PSEUDO_FUNC, pc-relative
        asm.mov_reg(3, 10), asm.add_imm(3, -8),
        asm.mov_imm(4, 0),
        asm.call(164),                                     # bpf_for_each_map_elem
        asm.ldx_dw(0, 10, -8),
        asm.exit(),
    ])
    cb = b"".join([
        asm.ldx_dw(0, 3, 0), asm.ldx_dw(1, 4, 0),
        asm.insn(0x0F, 1, 0),                              # r1 += r0
        asm.stx_dw(4, 1, 0),
        asm.mov_imm(0, 0), asm.exit(),
    ])
    assert len(main) == 8 * cb_start
    return main + cb, cb_start


def test_callback_needs_and_gets_program_btf(no_leaks, asm):
    from bpfscope.bpf.objects import btf_ids
    m = no_leaks.map(BpfMap.create(MapType.HASH, 8, 8, 8))
    try:
        for k in (1, 2, 3):
            m.update(struct.pack("<Q", k), struct.pack("<Q", 100 * k))
        code, cb = _sum_with_callback(asm, m.fd)
        with pytest.raises(ProgLoadError) as ei:
            load_program(ProgType.RAW_TRACEPOINT, code)
        assert ei.value.reason == "missing btf func_info"
        before = set(btf_ids())
        fd = no_leaks.prog(load_program(
            ProgType.RAW_TRACEPOINT, code, name="foreach",
            functions=[(0, "main", ("ctx",)), (cb, "cb", ("map", "key", "value", "ctx"))]))
        try:
            assert prog_test_run(fd, ctx_in=[0]) == 600
            # the program's BTF, now held by the program alone
            ours = set(btf_ids()) - before
            assert len(ours) == 1
        finally:
            close_fd(fd)
    finally:
        m.close()
    deadline = time.monotonic() + 3
    while ours & set(btf_ids()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not ours & set(btf_ids()), "program BTF outlived its program"


def test_bad_btf_error_has_the_kernel_log(kernel):
    from bpfscope.bpf.btfload import BtfLoadError, load_btf
    from bpfscope.btf.encode import BtfWriter
    w = BtfWriter()
    w.add_func("f", 7)  # no type 7
    with pytest.raises(BtfLoadError) as ei:
        load_btf(w.blob())
    assert ei.value.errno == errno.EINVAL
    assert "Invalid type_id" in ei.value.log
