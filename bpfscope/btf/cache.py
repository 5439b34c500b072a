"""Disk cache of the type index, so a tracer start skips the index pass.

The index (record offsets and name offsets, two uint32 arrays) depends only
on the blob's bytes, so the key is the length and CRC-32 of those bytes (and
of the header): a new kernel, a rebuilt module or any other change gives a new
key. A CRC-32 of 5 MB costs about 1.5 ms, far less than the pass it
replaces, and unlike size+mtime it cannot be fooled by a sysfs file whose
mtime is the boot time.

The cache lives in $XDG_CACHE_HOME/bpfscope/btf (default ~/.cache/...),
opened, read and written as :mod:`bpfscope.cachedir` says (a private
directory, files read only when regular, ours and bounded). A cache file
is used only with the right magic, the size its header gives and the
CRC-32 of its payload; anything else (truncated, corrupt, foreign,
hostile) is ignored and the index is rebuilt in memory and written anew.
Only files bpfscope names (``<name>-<len>-<crc>.idx`` of the same name)
are ever removed.

Every failure (no home, read-only disk, a bad directory) just means no
cache.
"""

from __future__ import annotations

import array
import os
import re
import struct
import sys
import zlib

from bpfscope import cachedir
from bpfscope.btf import kinds as K

_MAGIC = b"BPSBTFX2"
# magic, byte order flag, record count, CRC-32 of the payload; then the
# offs and names arrays.
_HEAD = struct.Struct("<8sIII")
# The smallest BTF record is 3 words: a blob of N bytes has at most N/12.
_MIN_RECORD = 12


def cache_dir() -> str | None:
    return cachedir.default_dir("btf")


def key(data: bytes) -> str:
    # The header (section sizes) plus length and CRC of everything.
    return f"{len(data):x}-{zlib.crc32(data):08x}{zlib.crc32(data[:32]):08x}"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "btf"


def _file_name(name: str, data: bytes) -> str:
    return f"{_safe_name(name)}-{key(data)}.idx"


def parse(blob: bytes, data_len: int):
    """(offs, names) from the bytes of a cache file, None when they are
    not a well-formed index for a blob of ``data_len`` bytes."""
    if len(blob) < _HEAD.size:
        return None
    magic, little, n, crc = _HEAD.unpack_from(blob)
    if magic != _MAGIC or little != (sys.byteorder == "little") \
            or n > data_len // _MIN_RECORD or len(blob) != _HEAD.size + 8 * n \
            or zlib.crc32(memoryview(blob)[_HEAD.size:]) != crc:
        return None
    offs = array.array("I")
    offs.frombytes(blob[_HEAD.size:_HEAD.size + 4 * n])
    return offs, blob[_HEAD.size + 4 * n:]


def load(name: str, data: bytes, directory: str | None = None):
    """The cached (offs array, names bytes) index for ``data`` or None."""
    dfd = cachedir.open_dir("btf", directory, create=False)
    if dfd is None:
        return None
    try:
        limit = _HEAD.size + 8 * (len(data) // _MIN_RECORD)
        blob = cachedir.read_own_file(dfd, _file_name(name, data), limit)
    finally:
        os.close(dfd)
    return None if blob is None else parse(blob, len(data))


def plausible(index, words) -> bool:
    """A cheap spot check that ``index`` describes ``words``: offsets rise,
    the records found at a sample of them carry the recorded names, and the
    last record ends where the section does."""
    offs, names = index
    n = len(offs)
    if n == 0:
        return len(words) == 0
    if offs[0] != 0 or len(names) != 4 * n:
        return False
    step = max(1, n // 64)
    rec_names = memoryview(names).cast("I")
    prev = -1
    for i in sorted(set(range(0, n, step)) | {n - 1}):
        o = offs[i]
        if o <= prev or o + 3 > len(words) or words[o] != rec_names[i]:
            return False
        prev = o
    info = words[offs[-1] + 1]
    k = (info >> 24) & 31
    end = offs[-1] + 3 + K.FIXED_WORDS[k] + K.PER_VLEN_WORDS[k] * (info & 0xFFFF)
    return K.FIXED_WORDS[k] >= 0 and end == len(words)


def store(name: str, data: bytes, index, directory: str | None = None) -> bool:
    """Write the index for ``data``; False (and no exception) on failure.
    Older indexes of the same name (other kernels) are removed."""
    dfd = cachedir.open_dir("btf", directory, create=True)
    if dfd is None:
        return False
    offs, names = index
    payload = offs.tobytes() + bytes(names)
    head = _HEAD.pack(_MAGIC, sys.byteorder == "little", len(offs), zlib.crc32(payload))
    final = _file_name(name, data)
    try:
        if not cachedir.write_file(dfd, final, (head, payload)):
            return False
        # other kernels' indexes of this name
        cachedir.remove_own(dfd, re.escape(_safe_name(name)) + r"-[0-9a-f]+-[0-9a-f]{16}\.idx",
                            final)
        return True
    finally:
        os.close(dfd)
