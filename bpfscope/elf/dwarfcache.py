"""Disk cache of what the DWARF readers index, so a large debug file is
read once, not at every start.

Indexing libc6-dbg's debug file takes seconds in Python (the inline index,
the line table, the inlined copies with their ranges); loading the same
indexes back takes milliseconds. Each reader says what of itself to keep
(a ``state``, plain tuples, lists, dicts, ints, strings and bytes) and how
to rebuild itself from it; this module keeps the states on disk.

An entry is keyed by the debug file itself: its real path, size,
modification time and build-id, plus what else its reader depends on (the
binary beside which .dwo files are looked for, a function's address), the
entry format and the Python version (``marshal``'s format). A changed file
gives another key, so a stale entry is never read; the older entries of
the same file are removed when a new one is written. Files read besides
the debug file (a dwz supplement, .dwo and .dwp files) are listed in the
entry with their size and modification time and make it stale when they
change. Readers store nothing when a file they need was missing, so the
file appearing later is noticed.

The entries live in $XDG_CACHE_HOME/bpfscope/dwarf (default
~/.cache/bpfscope/dwarf; $BPFSCOPE_DWARF_CACHE names another directory,
and set empty turns the cache off), under the rules of :mod:`bpfscope.cachedir`: a
private directory, files read only when regular, ours and bounded. A file
is used only with the right magic, length and CRC-32 of its payload, and
only when the state decodes to what its reader expects; anything else
(truncated, corrupt, stale, an unwritable or foreign directory) is a miss:
the index is built from the DWARF as without a cache (and written anew
where the directory allows). ``marshal`` builds only plain values and runs
no code; a file in the cache could only have been written by our own user.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
import re
import stat
import struct
import sys
import zlib

from .. import cachedir

_SUB = "dwarf"
_FORMAT = 2  # 2: split units' inlined copies carry call files


def _readers_stamp() -> tuple:
    """(name, size, mtime) of the readers' source files (this package):
    an entry is what they made, so an upgraded or edited reader never
    reads the state an older one stored, bumped _FORMAT or not."""
    global _STAMP
    if _STAMP is None:
        root = os.path.dirname(os.path.abspath(__file__))
        out = []
        try:
            for f in sorted(os.listdir(root)):
                if f.endswith(".py"):
                    st = os.stat(os.path.join(root, f))
                    out.append((f, st.st_size, st.st_mtime_ns))
        except OSError:
            pass
        _STAMP = tuple(out)
    return _STAMP


_STAMP: tuple | None = None
_MAGIC = b"BPSDWC\x00\x01"
# magic, CRC-32 of the payload, payload length
_HEAD = struct.Struct("<8sIQ")
# no index of ours comes near this: anything bigger is not ours
_LIMIT = 1 << 31
# what a reader's rebuild raises on a state of the wrong shape
DECODE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError,
                 EOFError, struct.error, OverflowError)


def _directory(directory: str | None) -> str | None | bool:
    """The directory to use (None: the default), False for no cache."""
    if directory:
        return directory
    env = os.environ.get("BPFSCOPE_DWARF_CACHE")
    if env is None:
        return None
    return env or False


def _open(directory: str | None, create: bool) -> int | None:
    where = _directory(directory)
    if where is False:
        return None
    return cachedir.open_dir(_SUB, where, create)


def _identity(path: str) -> tuple | None:
    """(real path, size, mtime_ns) of path, None when it cannot be stat'd."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return real, st.st_size, st.st_mtime_ns


def _build_id(path: str) -> str:
    from .reader import ElfError, ElfFile
    try:
        with ElfFile(path) as e:
            return e.build_id or ""
    except (ElfError, OSError):
        return ""


def _hash(*parts) -> str:
    return hashlib.sha1(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _names(kind: str, path: str, extra: tuple) -> tuple[str, str] | None:
    """(file name of the entry, regular expression of the same file's
    entries under other keys), or None when path cannot be stat'd."""
    ident = _identity(path)
    if ident is None:
        return None
    who = _hash(ident[0])
    what = _hash(_FORMAT, _readers_stamp(), sys.version_info[:2], ident, _build_id(ident[0]))
    tail = "-" + _hash(extra) if extra else ""
    name = f"{kind}-{who}-{what}{tail}.dwc"
    return name, rf"{kind}-{who}-(?!{what})[0-9a-f]{{16}}(?:-[0-9a-f]{{16}})?\.dwc"


def _deps_fresh(deps) -> bool:
    for path, size, mtime in deps:
        ident = _identity(path)
        if ident is None or ident[1:] != (size, mtime):
            return False
    return True


def dependency(path: str) -> tuple | None:
    """What an entry records of a file it depends on, as ``store`` takes
    it in ``deps``."""
    ident = _identity(path)
    return None if ident is None else (path, ident[1], ident[2])


def load(kind: str, path: str, extra: tuple = (), directory: str | None = None):
    """The state stored for (kind, path, extra), or None: not cached,
    stale, corrupt or not readable."""
    names = _names(kind, path, extra)
    if names is None:
        return None
    dfd = _open(directory, create=False)
    if dfd is None:
        return None
    try:
        blob = cachedir.read_own_file(dfd, names[0], _LIMIT)
    finally:
        os.close(dfd)
    if blob is None or len(blob) < _HEAD.size:
        return None
    magic, crc, n = _HEAD.unpack_from(blob)
    body = memoryview(blob)[_HEAD.size:]
    if magic != _MAGIC or n != len(body) or zlib.crc32(body) != crc:
        return None
    try:
        with _no_gc():
            deps, state = marshal.loads(body)
        if not _deps_fresh(deps):
            return None
    except DECODE_ERRORS:
        return None
    return state


class _no_gc:
    """Loading an index makes a few hundred thousand objects, none of them
    garbage: with the collector on, its passes over the whole heap cost
    several times the load."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def store(kind: str, path: str, state, deps=(), extra: tuple = (),
          directory: str | None = None) -> bool:
    """Keep ``state`` for (kind, path, extra); ``deps``: the other files
    it was read from (``dependency``). False, and no exception, when it
    cannot be written."""
    names = _names(kind, path, extra)
    if names is None or any(d is None for d in deps):
        return False
    try:
        body = marshal.dumps((tuple(deps), state))
    except ValueError:
        return False  # a value marshal cannot keep: a reader's bug, no cache
    dfd = _open(directory, create=True)
    if dfd is None:
        return False
    try:
        head = _HEAD.pack(_MAGIC, zlib.crc32(body), len(body))
        if not cachedir.write_file(dfd, names[0], (head, body)):
            return False
        cachedir.remove_own(dfd, names[1], names[0])
        evict(dfd, keep=names[0])
        return True
    finally:
        os.close(dfd)


# the cache's bounds: past either, the oldest entries (by modification
# time) go; only files named as entries are counted or removed
MAX_ENTRIES = 256
MAX_BYTES = 1 << 30
_ENTRY = re.compile(r"[a-z]+-[0-9a-f]{16}-[0-9a-f]{16}(?:-[0-9a-f]{16})?\.dwc")


def evict(dfd: int, keep: str = "", max_entries: int | None = None,
          max_bytes: int | None = None) -> list[str]:
    """Remove the oldest entries of the cache directory ``dfd`` until at
    most ``max_entries`` files of at most ``max_bytes`` in all are left
    (``keep``, the entry just written, stays); regular files of ours
    only. The names removed."""
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    try:
        names = [n for n in os.listdir(dfd) if _ENTRY.fullmatch(n)]
    except OSError:
        return []
    found = []
    for n in names:
        try:
            st = os.stat(n, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        if cachedir.ours(st, stat.S_ISREG):
            found.append((n == keep, st.st_mtime_ns, n, st.st_size))
    found.sort(reverse=True)            # keep first, then the newest
    total, kept, removed = 0, 0, []
    for i, (_, _, n, size) in enumerate(found):
        if i == 0 or (kept < max_entries and total + size <= max_bytes):
            total, kept = total + size, kept + 1
            continue
        try:
            os.unlink(n, dir_fd=dfd)
            removed.append(n)
        except OSError:
            pass
    return removed


def cached(kind: str, path: str, build, dump, restore, extra: tuple = ()):
    """The reader of ``path``: ``restore(state)`` from the cache, else
    ``build()``, whose ``dump(reader)`` -- (state, deps), or None to keep
    nothing -- is stored for the next time."""
    state = load(kind, path, extra)
    if state is not None:
        try:
            with _no_gc():
                return restore(state)
        except DECODE_ERRORS:
            pass
    reader = build()
    kept = dump(reader)
    if kept is not None:
        store(kind, path, kept[0], kept[1], extra)
    return reader
