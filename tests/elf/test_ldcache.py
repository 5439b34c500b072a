"""bpfscope.elf.ldcache: ld.so.cache, short names, /proc/PID/maps."""

import os
import struct

import pytest

from bpfscope.elf.ldcache import (LdCache, find_in_maps, parse_maps,
                                  read_proc_maps, resolve_library)
from bpfscope.elf.reader import ElfError


def _cache_bytes(entries, old_prefix=False):
    """A cache in glibc's new format (48-byte header, 24-byte entries,
    strings after), optionally behind an empty old libc5 table."""
    strings = b""
    offs = []
    hdr_size, ent = 48, 24
    base = hdr_size + ent * len(entries)
    for soname, path, *_ in entries:
        k = base + len(strings)
        strings += soname.encode() + b"\0"
        v = base + len(strings)
        strings += path.encode() + b"\0"
        offs.append((k, v))
    hdr = struct.pack("<17s3sIIB3xI12x", b"glibc-ld.so.cache", b"1.1",
                      len(entries), len(strings), 2, 0)
    body = b"".join(struct.pack("<iIIIQ", e[2] if len(e) > 2 else 0x303, k, v, 0,
                                e[3] if len(e) > 3 else 0)
                    for e, (k, v) in zip(entries, offs))
    new = hdr + body + strings
    if old_prefix:
        return b"ld.so-1.7.0\0" + struct.pack("<I", 0) + new
    return new


ENTRIES = [
    ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
    ("libcap.so.2", "/lib/x86_64-linux-gnu/libcap.so.2"),
    ("libc.so.6", "/lib/i386-linux-gnu/libc.so.6", 0x0003),       # i386
    ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
    ("libc.so", "/usr/lib/x86_64-linux-gnu/libc.so"),
    ("libcrypto.so.3", "/lib/x86_64-linux-gnu/libcrypto.so.3"),
]


def test_parse_synthetic_cache():
    c = LdCache.from_bytes(_cache_bytes(ENTRIES))
    assert [(e.soname, e.path) for e in c.entries] == [e[:2] for e in ENTRIES]
    assert c.entries[2].flags == 3 and c.entries[0].flags == 0x303
    assert c.find("c", "x86_64") == "/lib/x86_64-linux-gnu/libc.so.6"
    assert c.find("libc", "x86_64") == "/lib/x86_64-linux-gnu/libc.so.6"
    assert c.find("libc", "i386") == "/lib/i386-linux-gnu/libc.so.6"
    assert c.find("cap", "x86_64") == "/lib/x86_64-linux-gnu/libcap.so.2"
    assert c.find("libc.so.6", "x86_64") == "/lib/x86_64-linux-gnu/libc.so.6"
    assert c.find("crypt", "x86_64") is None   # no prefix false positive
    assert c.find("nothere", "x86_64") is None
    assert [e.path for e in c.lookup("libz.so.1", "x86_64")] == [ENTRIES[0][1]]


def test_old_format_prefix():
    c = LdCache.from_bytes(_cache_bytes(ENTRIES, old_prefix=True))
    assert c.find("z", "x86_64") == "/lib/x86_64-linux-gnu/libz.so.1"


def test_bad_caches():
    with pytest.raises(ElfError, match="not an ld.so.cache"):
        LdCache.from_bytes(b"garbage" * 10)
    data = bytearray(_cache_bytes(ENTRIES))
    data[17:20] = b"1.0"
    with pytest.raises(ElfError, match="version"):
        LdCache.from_bytes(bytes(data))
    with pytest.raises(ElfError, match="truncated"):
        LdCache.from_bytes(_cache_bytes(ENTRIES)[:100])
    with pytest.raises(ElfError, match="cannot read"):
        LdCache("/nonexistent/ld.so.cache")


def test_system_cache():
    if not os.path.exists("/etc/ld.so.cache"):
        pytest.skip("no /etc/ld.so.cache")
    c = LdCache()
    assert c.entries
    path = resolve_library("libc")
    assert path and os.path.basename(path) == "libc.so.6" and os.path.exists(path)
    assert resolve_library("c") == path
    if os.path.exists("/lib/x86_64-linux-gnu/libc.so.6"):
        assert path == "/lib/x86_64-linux-gnu/libc.so.6"
    assert resolve_library("surely_no_such_library_xyz") is None
    assert resolve_library("/bin/sh") == "/bin/sh"
    assert resolve_library("/no/such/file") is None


MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 26723                      /usr/bin/prog
55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:00 26723                      /usr/bin/prog
7f3a1c000000-7f3a1c028000 r--p 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f3a1c300000-7f3a1c301000 r-xp 00000000 fe:00 99                         /tmp/my lib.so (deleted)
7f3a1c400000-7f3a1c401000 r-xp 00000000 fe:00 98                         /opt/libfoo-1.2.so
7ffd5a1f0000-7ffd5a211000 rw-p 00000000 00:00 0                          [stack]
7ffd5a3e0000-7ffd5a3e2000 r-xp 00000000 00:00 0
"""


def test_parse_maps():
    ms = parse_maps(MAPS)
    assert len(ms) == 8
    m = ms[3]
    assert (m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.path) == (
        0x7F3A1C028000, 0x7F3A1C1BD000, "r-xp", 0x28000, "fe:00", 1234,
        "/usr/lib/x86_64-linux-gnu/libc.so.6")
    assert m.executable and m.contains(0x7F3A1C028000) and not m.contains(0x7F3A1C1BD000)
    assert (ms[4].path, ms[4].deleted) == ("/tmp/my lib.so", True)
    assert ms[6].path == "[stack]" and ms[7].path == ""
    assert find_in_maps(ms, "c") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert find_in_maps(ms, "libc") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert find_in_maps(ms, "foo") == "/opt/libfoo-1.2.so"
    assert find_in_maps(ms, "prog") == "/usr/bin/prog"
    assert find_in_maps(ms, "bar") is None


def test_own_process_maps():
    ms = read_proc_maps(os.getpid())
    assert any(m.executable for m in ms)
    assert resolve_library("c", pid=os.getpid()) is not None
    with pytest.raises(ElfError):
        read_proc_maps(2 ** 30)
