"""A kind newer than bpfscope (a kernel's BTF from after this release) is
stepped over with a warning when its record size can be told from the
blob, and cuts the index short with a warning when it cannot; the reader
never fails on it."""

from __future__ import annotations

import struct

import pytest

from bpfscope.btf import BtfError
from bpfscope.errors import WarningLog, collecting

NEW_KIND = 25


def new_kind(enc, name: str, vlen: int, extra: int, per_vlen: int) -> int:
    """A record of NEW_KIND whose size is 3 + extra + per_vlen * vlen words."""
    words = extra + per_vlen * vlen
    return enc.add(name, NEW_KIND, vlen, 0, struct.pack(f"<{words}I", *range(7, 7 + words)))


def read(enc):
    log = WarningLog()
    with collecting(log):
        b = enc.btf()
    return b, [w.message for w in log.items]


@pytest.mark.parametrize("extra,per_vlen", [(0, 0), (1, 0), (0, 2), (1, 3)])
def test_new_kind_records_are_stepped_over(enc, extra, per_vlen):
    i = enc.int("int", 4, signed=True)
    a = new_kind(enc, "tagged", 2, extra, per_vlen)
    s = enc.struct("after", 4, [("x", i, 0)])
    new_kind(enc, "again", 3, extra, per_vlen)
    p = enc.ptr(s)
    b, warnings = read(enc)
    assert warnings == [f"BTF of test: type {a} has kind {NEW_KIND}, which bpfscope does not "
                        "know; types of that kind are skipped (a kernel newer than bpfscope?)"]
    # the types after each new-kind record keep their ids and decode
    assert b.find("after", "struct") == s
    assert b.type(p).type == s
    assert b.type(s).members[0].name == "x"
    assert len(b) == p + 1
    with pytest.raises(BtfError, match=f"unknown kind {NEW_KIND}"):
        b.type(a)


def test_new_kind_that_cannot_be_stepped_over(enc):
    i = enc.int("int", 4, signed=True)
    a = new_kind(enc, "odd", 1, 0, 0)
    # the record really has 5 extra words (no kind so far has that shape)
    enc.records[-1] += struct.pack("<5I", *(0xFFFFFFFF,) * 5)
    enc.struct("lost", 4, [("x", i, 0)])
    b, warnings = read(enc)
    assert warnings == [f"BTF of test: type {a} has kind {NEW_KIND}, which bpfscope does not "
                        f"know and cannot step over; the types from {a} on are not read "
                        "(a kernel newer than bpfscope?)"]
    assert b.find("int") == i
    assert b.find("lost") is None
    assert len(b) == a


def test_new_kind_inside_the_kernels_btf():
    """The running kernel's BTF with one new-kind record (vlen 2, 1 + 2 * 2
    extra words) spliced in after its first 50 types."""
    from pathlib import Path
    from bpfscope.btf import from_bytes
    path = Path("/sys/kernel/btf/vmlinux")
    if not path.exists():
        pytest.skip("the kernel has no BTF")
    data = path.read_bytes()
    magic, ver, flags, hdr_len, toff, tlen, soff, slen = struct.unpack_from("<HBBIIIII", data)
    orig = from_bytes(data, "vmlinux", use_cache=False)
    at = orig._offs[50] * 4              # before type 51
    rec = struct.pack("<III", 0, (NEW_KIND << 24) | 2, 0) + struct.pack("<5I", 1, 2, 3, 4, 5)
    types = data[hdr_len + toff:hdr_len + toff + tlen]
    new_types = types[:at] + rec + types[at:]
    strings = data[hdr_len + soff:hdr_len + soff + slen]
    hdr = struct.pack("<HBBIIIII", magic, ver, flags, 24, 0, len(new_types), len(new_types), slen)
    log = WarningLog()
    with collecting(log):
        b = from_bytes(hdr + new_types + strings, "vmlinux", use_cache=False)
    assert [w.message for w in log.items] == [
        f"BTF of vmlinux: type 51 has kind {NEW_KIND}, which bpfscope does not know; "
        "types of that kind are skipped (a kernel newer than bpfscope?)"]
    assert len(b) == len(orig) + 1
    ts = orig.find("task_struct", "struct")
    assert ts > 51
    assert b.find("task_struct", "struct") == ts + 1
    assert [m.name for m in b.type(ts + 1).members] == [m.name for m in orig.type(ts).members]
