"""Loading the running kernel's BTF from /sys/kernel/btf.

``load_vmlinux()`` and ``load_module(name)`` are memoized per process:
a compile asks for types many times, the blobs do not change while the
kernel runs, and module BTF shares the vmlinux object as its base. Large
blobs get their index from the disk cache (see :mod:`bpfscope.btf.cache`).
"""

from __future__ import annotations

import os
import threading

from bpfscope.btf import cache
from bpfscope.btf.errors import BtfError
from bpfscope.btf.reader import Btf

SYSFS = "/sys/kernel/btf"
# Below this many bytes the index pass takes well under a millisecond or
# two, less than touching the cache; most modules are this small.
CACHE_MIN_BYTES = 256 * 1024

_lock = threading.Lock()
_loaded: dict[tuple[str, str], Btf] = {}


def _has_module_btf(btf_dir: str) -> bool:
    """False when the kernel cannot have module BTF: it is older than 5.11
    and lists nothing but vmlinux in ``btf_dir``."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
        return (major, minor) >= (5, 11) or any(n != "vmlinux" for n in os.listdir(btf_dir))
    except (OSError, ValueError):
        return True


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        if what == "vmlinux":
            raise BtfError(
                f"the kernel has no BTF ({path} is missing); bpfscope needs a "
                "kernel built with CONFIG_DEBUG_INFO_BTF=y") from None
        if not _has_module_btf(os.path.dirname(path)):
            raise BtfError(f"module {what!r} has no BTF: this kernel has no module BTF "
                           "at all (Linux 5.11 brings it, with "
                           "CONFIG_DEBUG_INFO_BTF_MODULES)") from None
        raise BtfError(f"module {what!r} has no BTF ({path} is missing); "
                       "is the module loaded?") from None
    except PermissionError:
        raise BtfError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise BtfError(f"cannot read {path}: {e.strerror}") from None


def from_bytes(data: bytes, name: str = "", base: Btf | None = None,
               use_cache: bool = True, cache_dir: str | None = None) -> Btf:
    """A :class:`Btf` for ``data``, with its index from the disk cache when
    the blob is big enough to be worth it."""
    index = None
    if use_cache and len(data) >= CACHE_MIN_BYTES:
        index = cache.load(name or "btf", data, cache_dir)
    btf = Btf(data, base=base, name=name, index=index)
    # No file, or one whose index did not fit the blob (Btf rebuilt it):
    # write the good one.
    rebuilt = index is None or btf._offs is not index[0]
    if use_cache and rebuilt and len(data) >= CACHE_MIN_BYTES:
        cache.store(name or "btf", data, (btf._offs, btf._names_bytes), cache_dir)
    return btf


def load_file(path: str, base: Btf | None = None, use_cache: bool = True) -> Btf:
    """Any raw BTF file (e.g. one saved with ``bpftool btf dump ... format raw``)."""
    name = os.path.basename(path)
    return from_bytes(_read(path, name), name, base, use_cache)


def load_vmlinux(path: str | None = None, use_cache: bool = True) -> Btf:
    """The kernel's own BTF (memoized). ``path`` overrides the sysfs file."""
    path = path or os.path.join(SYSFS, "vmlinux")
    with _lock:
        btf = _loaded.get(("", path))
        if btf is None:
            btf = from_bytes(_read(path, "vmlinux"), "vmlinux", None, use_cache)
            _loaded[("", path)] = btf
        return btf


def load_module(name: str, base: Btf | None = None) -> Btf:
    """The split BTF of a loaded module, on top of vmlinux (memoized)."""
    if not name or "/" in name or name in (".", "..", "vmlinux"):
        raise BtfError(f"invalid module name {name!r}")
    base = base or load_vmlinux()
    path = os.path.join(SYSFS, name)
    with _lock:
        key = (name, str(id(base)))
        btf = _loaded.get(key)
        if btf is None:
            btf = from_bytes(_read(path, name), name, base)
            _loaded[key] = btf
        return btf


def list_modules() -> list[str]:
    """Names of the modules that have BTF now (sorted)."""
    try:
        names = os.listdir(SYSFS)
    except OSError:
        return []
    return sorted(n for n in names if n != "vmlinux")


def clear() -> None:
    """Forget memoized BTF (tests; after modules are reloaded)."""
    with _lock:
        _loaded.clear()
