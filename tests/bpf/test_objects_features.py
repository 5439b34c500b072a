"""bpf/objects.py and bpf/features.py: object enumeration sees what we
create and stops seeing it after close; feature probes on this kernel."""

import os

from bpfscope.bpf import features
from bpfscope.bpf.consts import MapType, ProgType
from bpfscope.bpf.link import raw_tracepoint_open
from bpfscope.bpf.maps import BpfMap
from bpfscope.bpf.objects import count_kernel_objects, link_ids, map_ids, prog_ids
from bpfscope.bpf.prog import load_program, prog_info
from bpfscope.bpf.sys import close_fd


def test_enumeration_sees_own_objects(no_leaks, asm):
    progs0, maps0, links0 = count_kernel_objects()
    m = no_leaks.map(BpfMap.create(MapType.HASH, 4, 4, 1))
    prog = no_leaks.prog(load_program(ProgType.RAW_TRACEPOINT,
                                      asm.mov_imm(0, 0) + asm.exit()))
    link = no_leaks.link(raw_tracepoint_open("sched_switch", prog))
    try:
        assert m.info().id in map_ids()
        assert prog_info(prog).id in prog_ids()
        assert no_leaks.seen["link"] <= set(link_ids())
        assert map_ids() == sorted(map_ids())
        progs, maps, links = count_kernel_objects()
        # Other processes may add objects meanwhile, never fewer than ours.
        assert progs >= 1 and maps >= 1 and links >= 1
    finally:
        close_fd(link)
        close_fd(prog)
        m.close()
    # no_leaks checks that the three ids disappear.


def test_feature_probes(kernel):
    assert features.kernel_release() == os.uname().release
    # The target kernel (6.x) has all of these.
    assert features.has_ringbuf() is True
    assert features.has_link_perf_event() is True
    assert features.has_batch_ops(MapType.HASH) is True
    assert features.has_batch_ops(MapType.PERCPU_ARRAY) is True
    assert features.has_batch_ops(MapType.RINGBUF) is False


def test_probes_leave_no_fd_open(kernel):
    # Objects live as long as an fd refers to them; global object ids would
    # race with other processes, our own fd table does not.
    for probe in (features.has_ringbuf, features.has_link_perf_event,
                  features.has_batch_ops):
        probe.cache_clear()
    before = set(os.listdir("/proc/self/fd"))
    features.has_ringbuf()
    features.has_link_perf_event()
    features.has_batch_ops(MapType.HASH)
    assert set(os.listdir("/proc/self/fd")) == before


def test_uprobe_multi_probe(kernel, monkeypatch):
    features._uprobe_multi_works.cache_clear()
    before = set(os.listdir("/proc/self/fd"))
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    # Linux 6.6 brought uprobe_multi links
    assert features.has_uprobe_multi() is ((major, minor) >= (6, 6))
    assert set(os.listdir("/proc/self/fd")) == before
    monkeypatch.setenv("BPFSCOPE_NO_UPROBE_MULTI", "1")
    assert features.has_uprobe_multi() is False


def test_uprobe_multi_attr_layout():
    """link_create.uprobe_multi as include/uapi/linux/bpf.h lays it out:
    path, offsets, ref_ctr_offsets, cookies (u64s) from byte 16, then
    cnt, flags, pid."""
    import ctypes
    from bpfscope.bpf.attrs import UprobeMultiAttr as A
    assert [getattr(A, f).offset for f in ("path", "offsets", "ref_ctr_offsets", "cookies",
                                           "cnt", "uflags", "pid")] == \
        [16, 24, 32, 40, 48, 52, 56]
    assert ctypes.sizeof(A) == 64
