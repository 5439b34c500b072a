"""Disk cache of the type index, so a tracer start skips the index pass.

The index (record offsets and name offsets, two uint32 arrays) depends only
on the blob's bytes, so the key is the length and CRC-32 of those bytes (and
of the header): a new kernel, a rebuilt module or any other change gives a new
key. A CRC-32 of 5 MB costs about 1.5 ms, far less than the pass it
replaces, and unlike size+mtime it cannot be fooled by a sysfs file whose
mtime is the boot time.

The cache lives in $XDG_CACHE_HOME/bpfscope/btf (default ~/.cache/...).
bpfscope often runs as root, sometimes with a user's $HOME or
$XDG_CACHE_HOME, so the directory is treated as hostile ground:

- ``bpfscope`` and ``btf`` are opened one at a time relative to their
  parent's fd with O_NOFOLLOW, and used only when they are directories
  owned by us and writable by nobody else; every later open, rename,
  listing and unlink goes through that directory fd, so swapping a
  component for a symlink after the check changes nothing. The directory
  above them ($XDG_CACHE_HOME itself) is the user's choice and may be a
  symlink.
- A cache file is read only when it is a regular file (O_NOFOLLOW,
  O_NONBLOCK, then fstat: no FIFO, device or symlink), owned by us, not
  group/world-writable, of the size its header gives, no bigger than the
  blob could need, with the right magic and the CRC-32 of its payload.
  Anything else (truncated, corrupt, foreign, hostile) is ignored and the
  index is rebuilt in memory and written anew.
- Only files bpfscope names (``<name>-<len>-<crc>.idx`` of the same name,
  regular, owned by us) are ever removed; anything else in the directory
  stays.

Every failure (no home, read-only disk, a bad directory) just means no
cache. Writes go to a temporary file (O_EXCL) renamed into place, so a
concurrent reader never sees half a file.
"""

from __future__ import annotations

import array
import os
import re
import stat
import struct
import sys
import zlib

from bpfscope.btf import kinds as K

_MAGIC = b"BPSBTFX2"
# magic, byte order flag, record count, CRC-32 of the payload; then the
# offs and names arrays.
_HEAD = struct.Struct("<8sIII")
# The smallest BTF record is 3 words: a blob of N bytes has at most N/12.
_MIN_RECORD = 12
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def cache_dir(sub: str = "btf") -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "bpfscope", sub)


def key(data: bytes) -> str:
    # The header (section sizes) plus length and CRC of everything.
    return f"{len(data):x}-{zlib.crc32(data):08x}{zlib.crc32(data[:32]):08x}"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "btf"


def _file_name(name: str, data: bytes) -> str:
    return f"{_safe_name(name)}-{key(data)}.idx"


def _ours(st: os.stat_result, kind) -> bool:
    """``st`` is of kind ``kind`` (stat.S_ISDIR/S_ISREG), owned by us and
    writable by no one else."""
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def open_dir(directory: str | None, create: bool, sub: str = "btf") -> int | None:
    """An fd of the cache directory ``bpfscope/<sub>``, checked as the
    module docstring says, or None. ``directory`` (tests) replaces the
    default; its last component is checked like ``bpfscope``/``btf``.
    The compile cache (bpfscope.compilecache) keeps its files in
    ``bpfscope/compile`` this way too."""
    path = directory or cache_dir(sub)
    if path is None:
        return None
    if directory:
        anchor, parts = os.path.split(os.path.abspath(directory))
        parts = [parts]
    else:
        anchor, parts = os.path.dirname(os.path.dirname(path)), ["bpfscope", sub]
    try:
        if create:
            os.makedirs(anchor, mode=0o700, exist_ok=True)
        fd = os.open(anchor, _DIR_FLAGS)
    except OSError:
        return None
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass
            sub = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = sub
            if not _ours(os.fstat(fd), stat.S_ISDIR):
                os.close(fd)
                return None
        return fd
    except OSError:
        os.close(fd)
        return None


def read_own_file(dfd: int, fname: str, limit: int) -> bytes | None:
    """The bytes of regular file ``fname`` of ``dfd`` when it is ours and
    at most ``limit`` bytes, else None."""
    try:
        fd = os.open(fname, _READ_FLAGS, dir_fd=dfd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        # A root tracer run under sudo may see the user's ~/.cache; an
        # index someone else could have written is not trusted.
        if not _ours(st, stat.S_ISREG) or st.st_size > limit:
            return None
        chunks, left = [], st.st_size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                return None  # shrank under us
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


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
    dfd = open_dir(directory, create=False)
    if dfd is None:
        return None
    try:
        limit = _HEAD.size + 8 * (len(data) // _MIN_RECORD)
        blob = read_own_file(dfd, _file_name(name, data), limit)
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


def _old_entries(dfd: int, name: str, keep: str) -> list[str]:
    """Files of the directory that bpfscope wrote for ``name`` (other
    kernels' indexes), except ``keep``: named as it names them, regular,
    ours. Nothing else there is touched."""
    rx = re.compile(re.escape(_safe_name(name)) + r"-[0-9a-f]+-[0-9a-f]{16}\.idx")
    out = []
    for entry in os.listdir(dfd):
        if entry == keep or not rx.fullmatch(entry):
            continue
        try:
            st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            out.append(entry)
    return out


def write_file(dfd: int, final: str, chunks) -> None:
    """Write ``final`` in directory ``dfd`` (mode 0600) through a temporary
    file (O_EXCL) renamed into place: a reader never sees half a file."""
    tmp = f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
    fd = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=dfd)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, final, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise


def store(name: str, data: bytes, index, directory: str | None = None) -> bool:
    """Write the index for ``data``; False (and no exception) on failure.
    Older indexes of the same name (other kernels) are removed."""
    dfd = open_dir(directory, create=True)
    if dfd is None:
        return False
    offs, names = index
    payload = offs.tobytes() + bytes(names)
    head = _HEAD.pack(_MAGIC, sys.byteorder == "little", len(offs), zlib.crc32(payload))
    final = _file_name(name, data)
    try:
        write_file(dfd, final, (head, payload))
        for old in _old_entries(dfd, name, final):
            try:
                os.unlink(old, dir_fd=dfd)
            except OSError:
                pass
        return True
    except OSError:
        return False
    finally:
        os.close(dfd)
