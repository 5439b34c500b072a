"""Private cache directories under $XDG_CACHE_HOME/bpfscope (default
~/.cache/bpfscope), for indexes worth keeping between runs (BTF, DWARF).

bpfscope often runs as root, sometimes with a user's $HOME or
$XDG_CACHE_HOME, so the directory is treated as hostile ground:

- ``bpfscope`` and the cache's own subdirectory are opened one at a time
  relative to their parent's fd with O_NOFOLLOW, and used only when they
  are directories owned by us and writable by nobody else; every later
  open, rename, listing and unlink goes through that directory fd, so
  swapping a component for a symlink after the check changes nothing. The
  directory above them ($XDG_CACHE_HOME itself) is the user's choice and
  may be a symlink.
- A file is read only when it is a regular file (O_NOFOLLOW, O_NONBLOCK,
  then fstat: no FIFO, device or symlink), owned by us, not group- or
  world-writable and no bigger than its reader allows.
- Writes go to a temporary file (O_EXCL) renamed into place, so a
  concurrent reader never sees half a file; only files matching their
  cache's own name pattern, regular and ours, are ever removed.

Every failure (no home, read-only disk, a bad directory) just means no
cache: the functions return None or False, never raise OSError.
"""

from __future__ import annotations

import os
import re
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def default_dir(sub: str) -> str | None:
    """$XDG_CACHE_HOME/bpfscope/SUB (default ~/.cache/...), or None when
    there is no home to put it in."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "bpfscope", sub)


def ours(st: os.stat_result, kind) -> bool:
    """``st`` is of kind ``kind`` (stat.S_ISDIR/S_ISREG), owned by us and
    writable by no one else."""
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def open_dir(sub: str, directory: str | None, create: bool) -> int | None:
    """An fd of cache directory ``sub`` (default_dir), checked as the
    module docstring says, or None. ``directory`` (tests) replaces the
    default; its last component is checked like ``bpfscope``/``sub``."""
    path = directory or default_dir(sub)
    if path is None:
        return None
    if directory:
        anchor, last = os.path.split(os.path.abspath(directory))
        parts = [last]
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
            nxt = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if not ours(os.fstat(fd), stat.S_ISDIR):
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
        # A root tracer run under sudo may see the user's ~/.cache; a
        # file someone else could have written is not trusted.
        if not ours(st, stat.S_ISREG) or st.st_size > limit:
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


def write_file(dfd: int, fname: str, parts) -> bool:
    """Write the byte strings ``parts`` to ``fname`` of ``dfd`` through a
    temporary file renamed into place; False on failure."""
    tmp = f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
    try:
        fd = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as f:
                for p in parts:
                    f.write(p)
            os.replace(tmp, fname, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
        return True
    except OSError:
        return False


def remove_own(dfd: int, pattern: str, keep: str) -> None:
    """Remove the files of the directory whose names match the regular
    expression ``pattern`` (its cache's older entries), except ``keep``:
    regular and ours only. Nothing else there is touched."""
    rx = re.compile(pattern)
    try:
        entries = os.listdir(dfd)
    except OSError:
        return
    for entry in entries:
        if entry == keep or not rx.fullmatch(entry):
            continue
        try:
            st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(entry, dir_fd=dfd)
        except OSError:
            continue
