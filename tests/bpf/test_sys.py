"""bpf/sys.py and attrs.py: syscall errors, CPU lists, and the attr layouts
checked against offsets from the kernel's uapi headers."""

import ctypes
import errno
import os

import pytest

from bpfscope.bpf import attrs
from bpfscope.bpf.consts import Cmd, MapType
from bpfscope.bpf.sys import (BpfSyscallError, bpf, close_fd, ncpus_possible,
                              page_size, parse_cpu_list)


def test_parse_cpu_list():
    assert parse_cpu_list("0-3,5,7-8\n") == [0, 1, 2, 3, 5, 7, 8]
    assert parse_cpu_list("0\n") == [0]


def test_ncpus_possible_matches_sysfs():
    with open("/sys/devices/system/cpu/possible") as f:
        last = int(f.read().strip().split(",")[-1].split("-")[-1])
    assert ncpus_possible() == last + 1


def test_page_size():
    assert page_size() == os.sysconf("SC_PAGE_SIZE")


def test_error_message_names_command_and_errno():
    e = BpfSyscallError(errno.EPERM, Cmd.MAP_CREATE, "map counts")
    assert isinstance(e, OSError)
    assert e.errno == errno.EPERM
    assert str(e) == ("bpf(BPF_MAP_CREATE) failed: Operation not permitted "
                      "(EPERM): map counts")
    assert str(BpfSyscallError(524, Cmd.MAP_LOOKUP_BATCH)) == (
        "bpf(BPF_MAP_LOOKUP_BATCH) failed: Operation not supported (ENOTSUPP)")


def test_bad_attr_raises(kernel):
    with pytest.raises(BpfSyscallError) as ei:
        bpf(Cmd.MAP_CREATE, attrs.MapCreateAttr(map_type=MapType.HASH))
    assert ei.value.errno == errno.EINVAL
    assert ei.value.cmd == Cmd.MAP_CREATE


def test_close_fd_ignores_closed():
    r, w = os.pipe()
    close_fd(r)
    close_fd(r)  # EBADF is swallowed
    close_fd(w)
    close_fd(-1)
    close_fd(None)


@pytest.mark.parametrize("struct, field, offset", [
    (attrs.MapCreateAttr, "map_name", 28),
    (attrs.MapCreateAttr, "map_extra", 64),
    (attrs.MapElemAttr, "key", 8),
    (attrs.MapElemAttr, "flags", 24),
    (attrs.MapBatchAttr, "count", 32),
    (attrs.MapBatchAttr, "elem_flags", 40),
    (attrs.ProgLoadAttr, "prog_name", 48),
    (attrs.ProgLoadAttr, "expected_attach_type", 68),
    (attrs.ProgLoadAttr, "attach_btf_id", 108),
    (attrs.ProgLoadAttr, "log_true_size", 140),
    (attrs.TestRunAttr, "ctx_in", 48),
    (attrs.TestRunAttr, "batch_size", 72),
    (attrs.RawTracepointOpenAttr, "cookie", 16),
    (attrs.LinkCreateAttr, "extra", 16),
    (attrs.MapInfo, "map_extra", 80),
    (attrs.ProgInfoStruct, "name", 64),
    (attrs.ProgInfoStruct, "run_time_ns", 192),
    (attrs.ProgInfoStruct, "verified_insns", 216),
    (attrs.PerfEventAttr, "flags", 40),
    (attrs.PerfEventAttr, "config1", 56),
    (attrs.PerfEventAttr, "sample_max_stack", 108),
    (attrs.PerfEventAttr, "config3", 128),
])
def test_layout_offsets(struct, field, offset):
    assert getattr(struct, field).offset == offset


def test_layout_sizes():
    assert ctypes.sizeof(attrs.PerfEventAttr) == 136  # PERF_ATTR_SIZE_VER8
    assert ctypes.sizeof(attrs.ProgInfoStruct) == 232
