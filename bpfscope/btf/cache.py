"""Disk cache of the type index, so a tracer start skips the index pass.

The index (record offsets and name offsets, two uint32 arrays) depends only
on the blob's bytes, so the key is the length and CRC-32 of those bytes (and
of the header): a new kernel, a rebuilt module or any other change gives a new
key. A CRC-32 of 5 MB costs about 1.5 ms, far less than the pass it
replaces, and unlike size+mtime it cannot be fooled by a sysfs file whose
mtime is the boot time.

The cache lives in $XDG_CACHE_HOME/bpfscope/btf (default ~/.cache/...).
Every failure (no home, read-only disk, a truncated or foreign file, one
owned by someone else or writable by others) just means no cache: the index
is rebuilt in memory. Writes go to a temporary
file renamed into place, so a concurrent reader never sees half a file.
"""

from __future__ import annotations

import array
import os
import struct
import sys
import tempfile
import zlib

from bpfscope.btf import kinds as K

_MAGIC = b"BPSBTFX1"
# magic, byte order flag, record count; then offs and names arrays.
_HEAD = struct.Struct("<8sII")


def cache_dir() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "bpfscope", "btf")


def key(data: bytes) -> str:
    # The header (section sizes) plus length and CRC of everything.
    return f"{len(data):x}-{zlib.crc32(data):08x}{zlib.crc32(data[:32]):08x}"


def _path(name: str, data: bytes, directory: str | None) -> str | None:
    d = directory or cache_dir()
    if d is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "btf"
    return os.path.join(d, f"{safe}-{key(data)}.idx")


def load(name: str, data: bytes, directory: str | None = None):
    """The cached (offs array, names bytes) index for ``data`` or None."""
    path = _path(name, data, directory)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            # A root tracer run under sudo may see the user's ~/.cache; an
            # index someone else could have written is not trusted.
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return None
            blob = f.read()
        magic, little, n = _HEAD.unpack_from(blob)
    except (OSError, struct.error):
        return None
    if magic != _MAGIC or little != (sys.byteorder == "little") \
            or len(blob) != _HEAD.size + 8 * n:
        return None
    offs = array.array("I")
    offs.frombytes(blob[_HEAD.size:_HEAD.size + 4 * n])
    return offs, blob[_HEAD.size + 4 * n:]


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
    path = _path(name, data, directory)
    if path is None:
        return False
    offs, names = index
    d = os.path.dirname(path)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HEAD.pack(_MAGIC, sys.byteorder == "little", len(offs)))
                f.write(offs.tobytes())
                f.write(names)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        prefix = os.path.basename(path).rsplit("-", 2)[0] + "-"
        for old in os.listdir(d):
            if old.startswith(prefix) and old.endswith(".idx") \
                    and old != os.path.basename(path):
                try:
                    os.unlink(os.path.join(d, old))
                except OSError:
                    pass
        return True
    except OSError:
        return False
