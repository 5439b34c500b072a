"""Finding libraries: /etc/ld.so.cache, short names, /proc/PID/maps.

``/etc/ld.so.cache`` (glibc's "new" format, magic ``glibc-ld.so.cache``,
version ``1.1``) is a 48-byte header, ``nlibs`` 24-byte entries and a
string table. Each entry is (flags, key, value, osversion, hwcap): key is
the soname, value the path, both offsets into the file; flags say which
ABI the library is for (0x0303 = ELF libc6 for x86-64). Files that begin
with the old libc5 format (``ld.so-1.7.0``) carry the new format after the
old table; both layouts are read.

:func:`resolve_library` does what bpftrace does (through bcc) with a
probe target that is not a path: ``libc`` -> ``lib`` + name + ``.so``
matched as a prefix of the cached sonames, preferring a library already
mapped into the target process when a PID is given.

:func:`read_proc_maps` parses /proc/PID/maps into :class:`Mapping`
objects, from which a uprobe on a running process finds its library and
the load bias (see :meth:`ElfFile.load_bias`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from .reader import ElfError

LD_SO_CACHE = "/etc/ld.so.cache"

_NEW_MAGIC = b"glibc-ld.so.cache"
_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_HDR = struct.Struct("<17s3sIIB3xI12x")   # 48 bytes
_NEW_ENTRY = struct.Struct("<iIIIQ")          # 24 bytes
_OLD_ENTRY_SIZE = 12

FLAG_ELF_LIBC6 = 0x0003
FLAG_TYPE_MASK = 0x00FF
FLAG_REQUIRED_MASK = 0xFF00
# The ABI bits of a cache entry for each machine (glibc ldconfig.h).
ARCH_FLAGS = {
    "x86_64": 0x0300,      # FLAG_X8664_LIB64
    "aarch64": 0x0A00,     # FLAG_AARCH64_LIB64
    "i386": 0x0000,
    "riscv64": 0x1000,     # FLAG_RISCV_FLOAT_ABI_DOUBLE (lp64d)
}

# Searched when the cache has no answer (glibc's trusted directories).
DEFAULT_LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                    "/lib64", "/usr/lib64", "/lib", "/usr/lib")


@dataclass(frozen=True)
class CacheEntry:
    soname: str
    path: str
    flags: int
    hwcap: int

    def matches_arch(self, arch: str) -> bool:
        want = ARCH_FLAGS.get(arch)
        if want is None:
            return True
        return (self.flags & FLAG_TYPE_MASK) == FLAG_ELF_LIBC6 and \
            (self.flags & FLAG_REQUIRED_MASK) == want


class LdCache:
    """The entries of an ld.so.cache file, in file order (which is the
    order the dynamic loader searches)."""

    def __init__(self, path: str = LD_SO_CACHE):
        self.path = path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ElfError(f"{path}: cannot read: {e.strerror}") from None
        self.entries = _parse_cache(data, path)

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<bytes>") -> "LdCache":
        self = cls.__new__(cls)
        self.path = path
        self.entries = _parse_cache(data, path)
        return self

    def lookup(self, soname: str, arch: str | None = None) -> list[CacheEntry]:
        """Entries whose soname is exactly soname."""
        arch = arch or os.uname().machine
        return [e for e in self.entries
                if e.soname == soname and e.matches_arch(arch)]

    def find(self, name: str, arch: str | None = None) -> str | None:
        """The path for a short name ('c', 'libc', 'libc.so.6'), as bcc
        does: 'lib<name>.so' as a prefix of a soname, ending there or at a
        '.'; entries without hwcap requirements first."""
        arch = arch or os.uname().machine
        hits = [e for e in self.entries
                if _soname_matches(e.soname, name) and e.matches_arch(arch)]
        if not hits:
            return None
        plain = [e for e in hits if e.hwcap == 0]
        return (plain or hits)[0].path


def _soname_prefixes(name: str) -> list[str]:
    if ".so" in name:
        return [name]
    if name.startswith("lib"):
        return [name + ".so", "lib" + name + ".so"]
    return ["lib" + name + ".so"]


def _soname_matches(soname: str, name: str) -> bool:
    for p in _soname_prefixes(name):
        if soname == p or (soname.startswith(p) and soname[len(p)] == "."):
            return True
    return False


def _cstr(data: bytes, off: int) -> str:
    end = data.find(b"\0", off)
    if end < 0:
        raise ValueError("unterminated string")
    return data[off:end].decode("utf-8", "replace")


def _parse_cache(data: bytes, path: str) -> list[CacheEntry]:
    start = 0
    if data.startswith(_OLD_MAGIC):
        # Old header: magic[11] (padded to 12), nlibs, then 12-byte entries;
        # the new format follows, 8-byte aligned.
        (nold,) = struct.unpack_from("<I", data, 12)
        start = 16 + nold * _OLD_ENTRY_SIZE
        start = (start + 7) & ~7
        if not data.startswith(_NEW_MAGIC, start):
            raise ElfError(f"{path}: only the old libc5 ld.so.cache format; "
                           "not supported")
    if not data.startswith(_NEW_MAGIC, start):
        raise ElfError(f"{path}: not an ld.so.cache file")
    if len(data) < start + _NEW_HDR.size:
        raise ElfError(f"{path}: truncated ld.so.cache")
    _, version, nlibs, _, endian, _ = _NEW_HDR.unpack_from(data, start)
    if version != b"1.1":
        raise ElfError(f"{path}: unsupported ld.so.cache version "
                       f"{version.decode('ascii', 'replace')}")
    if endian == 3:
        raise ElfError(f"{path}: big-endian ld.so.cache")
    base = start + _NEW_HDR.size
    if base + nlibs * _NEW_ENTRY.size > len(data):
        raise ElfError(f"{path}: truncated ld.so.cache")
    out = []
    for i in range(nlibs):
        flags, key, value, _, hwcap = _NEW_ENTRY.unpack_from(
            data, base + i * _NEW_ENTRY.size)
        try:
            # String offsets count from the start of the new-format header.
            out.append(CacheEntry(_cstr(data, start + key),
                                  _cstr(data, start + value), flags, hwcap))
        except ValueError:
            raise ElfError(f"{path}: corrupt ld.so.cache entry {i}") from None
    return out


@dataclass(frozen=True)
class Mapping:
    """One line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    deleted: bool = False

    @property
    def executable(self) -> bool:
        return "x" in self.perms

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end


def parse_maps(text: str) -> list[Mapping]:
    """Mappings from the text of a maps file."""
    out = []
    for line in text.splitlines():
        # Fields are space separated; the path (6th) may itself contain
        # spaces, so split at most 5 times.
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        rng, perms, off, dev, inode = parts[:5]
        path = parts[5].strip() if len(parts) > 5 else ""
        deleted = path.endswith(" (deleted)")
        if deleted:
            path = path[:-len(" (deleted)")]
        lo, _, hi = rng.partition("-")
        out.append(Mapping(int(lo, 16), int(hi, 16), perms, int(off, 16), dev,
                           int(inode), path, deleted))
    return out


def read_proc_maps(pid: int | str) -> list[Mapping]:
    """Mappings of a running process (ElfError if it cannot be read)."""
    p = f"/proc/{pid}/maps"
    try:
        with open(p) as f:
            return parse_maps(f.read())
    except OSError as e:
        raise ElfError(f"cannot read {p}: {e.strerror}") from None


def find_in_maps(maps: list[Mapping], name: str) -> str | None:
    """The path of a file-backed mapping whose basename is name or matches
    the short name ('c' / 'libc' -> 'libc.so.6', or 'libc-2.31.so')."""
    for m in maps:
        if not m.path.startswith("/"):
            continue
        base = os.path.basename(m.path)
        if base == name or _soname_matches(base, name):
            return m.path
        for p in _soname_prefixes(name):
            # Versioned file names: libc-2.31.so for libc.
            stem = p[:-3]
            if base.startswith(stem + "-") and base.endswith(".so"):
                return m.path
    return None


def library_of_program(program: str, name: str) -> str | None:
    """The library called name ('libfoo', 'libfoo.so.1') that program
    links against and finds through its own DT_RUNPATH/DT_RPATH (a
    directory ld.so.cache does not know: a build tree, $ORIGIN/../lib);
    None when it names no such library there."""
    from .reader import ElfFile
    try:
        with ElfFile(program) as elf:
            needed, dirs = elf.dependencies()
    except (ElfError, OSError):
        return None
    for lib in needed:
        if lib == name or _soname_matches(lib, name):
            for d in dirs:
                path = os.path.join(d, lib)
                if os.path.exists(path):
                    return os.path.normpath(path)
    return None


_cache: LdCache | None = None


def resolve_library(name: str, pid: int | None = None,
                    cache: LdCache | None = None,
                    arch: str | None = None) -> str | None:
    """Path of the library a probe names, or None.

    A name with '/' is returned as is if the file exists. Otherwise: the
    library mapped in process pid (if given), then ld.so.cache, then the
    default library directories.
    """
    if "/" in name:
        return name if os.path.exists(name) else None
    if pid is not None:
        try:
            hit = find_in_maps(read_proc_maps(pid), name)
        except ElfError:
            hit = None
        if hit:
            # Through the process's root, so containers resolve too.
            rooted = f"/proc/{pid}/root{hit}"
            return rooted if not os.path.exists(hit) and os.path.exists(rooted) \
                else hit
    global _cache
    if cache is None:
        if _cache is None:
            try:
                _cache = LdCache()
            except ElfError:
                _cache = LdCache.from_bytes(_empty_cache())
        cache = _cache
    hit = cache.find(name, arch)
    if hit:
        return hit
    for d in DEFAULT_LIB_DIRS:
        try:
            files = sorted(os.listdir(d))
        except OSError:
            continue
        for f in files:
            if _soname_matches(f, name):
                return os.path.join(d, f)
    return None


def _empty_cache() -> bytes:
    return _NEW_HDR.pack(_NEW_MAGIC, b"1.1", 0, 0, 2, 0)
