"""Kernel symbols from /proc/kallsyms: address -> ``name+offset``, and
name -> address.

A leaf library like btf/ and elf/ (it imports nothing else of bpfscope):
the compiler looks up the addresses kaddr() and percpu_kaddr() name, the
runtime symbolizes kernel addresses.

What kstack, ksym() and perf-mode stacks print for a kernel address, the
way bpftrace prints it (through bcc's kernel symbol cache):

* a frame is ``name+off`` with the offset in decimal, ``+0`` included
  (``do_sys_openat2+136``); ksym() prints the bare ``name``;
* the module is never printed, neither in the default nor in perf mode
  (bpftrace prints ``ext4_file_open+408``, not ``... [ext4]``);
  ``format(module=True)`` adds `` [ext4]`` for other consumers;
* an address before the first symbol prints as hex, ``0xffff...``;
* kallsyms has no sizes: an address belongs to the nearest symbol at or
  below it, however far (as bcc does).

Loading is the expensive part (the kernel takes ~40 ms just to generate
the file). The parse avoids a Python loop over the ~100-200k lines: the
file is split into lines in C, the fixed-width address column of every line
is sliced, joined and decoded at once (``bytes.fromhex`` + ``struct``), and
an index permutation is sorted by address. Names, types and modules stay in
the raw lines and are decoded only for the symbols a lookup returns. Text
that does not have the 64-bit fixed layout goes through a regex parser.

Several symbols at one address (``_text``, ``_stext``,
``srso_alias_untrain_ret``) resolve to one name chosen by
:func:`_rank`: code before other types, strong before weak, global before
local, fewer leading underscores, then the first in file order.

Addresses of zero everywhere mean the kernel hides them
(``kernel.kptr_restrict``, or not running as root): :attr:`restricted` is
set, :attr:`why` says so in one sentence, and every lookup misses.

:func:`kernel_symbols` returns the process-wide instance, cached in memory
per boot id; ``refresh=True`` reloads it (after modules or BPF programs
appear: both add lines to kallsyms).
"""

from __future__ import annotations

import bisect
import re
import struct
import time
from typing import NamedTuple

KALLSYMS = "/proc/kallsyms"

# Lines of the generic parser: "addr type name[\t[module]]".
_LINE_RE = re.compile(rb"^([0-9a-fA-F]+) (\S) (\S+)(?:\s+\[(\S+)\])?")

# Below this nothing is a kernel code address on a 64-bit kernel (kernel
# space is the upper half); it keeps per-CPU offsets ('A' symbols at small
# addresses on some configs) and zero addresses out of lookups.
_KERNEL_HALF = 1 << 63


class KernelSymbol(NamedTuple):
    """One kallsyms entry: ``type`` is the nm letter ('T', 't', 'W', ...),
    ``module`` '' for vmlinux, else the name in brackets ('ext4', 'bpf')."""

    address: int
    name: str
    type: str
    module: str


class KernelSymbols:
    """Sorted kernel symbols with O(log n) address lookup.

    Build with :meth:`load` (reads /proc/kallsyms), :meth:`from_text` or
    :meth:`from_bytes`; most callers want :func:`kernel_symbols`.
    """

    def __init__(self, data: bytes, source: str = KALLSYMS):
        t0 = time.perf_counter()
        self.source = source
        lines = data.splitlines()
        # Drop blank lines (a trailing newline already gives none).
        if lines and not lines[-1]:
            lines = [ln for ln in lines if ln]
        addrs = _fast_addresses(lines)
        if addrs is None:
            lines, addrs = _slow_parse(lines)
        n = len(addrs)
        order = sorted(range(n), key=addrs.__getitem__)
        self._addrs = [addrs[i] for i in order]
        self._order = order
        self._lines = lines
        top = self._addrs[-1] if n else 0
        self.restricted = n > 0 and top == 0
        floor = _KERNEL_HALF if top >= _KERNEL_HALF else 1
        self._first = bisect.bisect_left(self._addrs, floor)
        self._by_name: dict[str, int] | None = None
        self.load_seconds = time.perf_counter() - t0

    # -- construction -----------------------------------------------------

    @classmethod
    def load(cls, path: str = KALLSYMS) -> "KernelSymbols":
        """Read and index path (OSError if it cannot be read)."""
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            data = f.read()
        ks = cls(data, path)
        ks.load_seconds = time.perf_counter() - t0
        return ks

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> "KernelSymbols":
        return cls(text.encode(), source)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> "KernelSymbols":
        return cls(data, source)

    # -- state ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._addrs)

    @property
    def why(self) -> str | None:
        """One sentence on why lookups cannot work, or None."""
        if self.restricted:
            return (f"{self.source} lists every address as 0 (kernel "
                    "pointers are hidden: run as root, or set "
                    "kernel.kptr_restrict=0); kernel addresses print as hex")
        if not self._addrs:
            return f"{self.source} has no symbols"
        return None

    # -- lookups ----------------------------------------------------------

    def _entry(self, i: int) -> KernelSymbol:
        """The symbol at sorted position i."""
        return _decode(self._lines[self._order[i]], self._addrs[i])

    def _best_at(self, i: int) -> KernelSymbol:
        """Among the symbols sharing address addrs[i] (i the last of them),
        the preferred one."""
        addrs = self._addrs
        a = addrs[i]
        if i == 0 or addrs[i - 1] != a:
            return self._entry(i)
        j = bisect.bisect_left(addrs, a, self._first, i)
        cands = [(self._order[k], self._entry(k)) for k in range(j, i + 1)]
        return min(cands, key=lambda c: (_rank(c[1]), c[0]))[1]

    def symbol_at(self, addr: int) -> KernelSymbol | None:
        """The symbol addr belongs to (nearest at or below), or None."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < self._first or self.restricted:
            return None
        return self._best_at(i)

    def resolve(self, addr: int) -> tuple[str, int, str] | None:
        """(name, offset, module) for addr; module '' for vmlinux. None
        before the first symbol or when addresses are hidden."""
        s = self.symbol_at(addr)
        if s is None:
            return None
        return s.name, addr - s.address, s.module

    def format(self, addr: int, offset: bool = True,
               module: bool = False) -> str:
        """A kernel frame as bpftrace prints it: 'name+off' (decimal, +0
        included) with offset, 'name' without (ksym()); unknown addresses
        as '0x...'. module=True appends ' [mod]' for module symbols (not a
        bpftrace form)."""
        s = self.symbol_at(addr)
        if s is None:
            return hex_address(addr)
        out = f"{s.name}+{addr - s.address}" if offset else s.name
        if module and s.module:
            out += f" [{s.module}]"
        return out

    def lookup_name(self, name: str) -> int | None:
        """Address of the first symbol called name (kaddr()), or None. The
        name index is built on first use."""
        if self._by_name is None:
            by_file = [0] * len(self._addrs)
            for i, oi in enumerate(self._order):
                by_file[oi] = self._addrs[i]
            idx: dict[str, int] = {}
            for oi, line in enumerate(self._lines):
                idx.setdefault(_name_of(line), by_file[oi])
            self._by_name = idx
        a = self._by_name.get(name)
        return None if a is None or self.restricted else a

    def symbols(self) -> list[KernelSymbol]:
        """Every symbol in address order (decodes them all: slow)."""
        return [self._entry(i) for i in range(len(self._addrs))]


def hex_address(addr: int) -> str:
    """How bpftrace prints an address it cannot name (a C++ void*):
    '0x' and lowercase hex, '0' for null."""
    return f"{addr:#x}" if addr else "0"


def _rank(s: KernelSymbol) -> tuple:
    t = s.type
    lower = t.lower()
    return (lower not in "tw", lower in "wv", t.islower(),
            len(s.name) - len(s.name.lstrip("_")))


def _fast_addresses(lines: list[bytes]):
    """Addresses of 64-bit kallsyms lines ('%016x %c name...') decoded in
    bulk, or None if the text does not have that layout."""
    if not lines:
        return []
    col = b"".join([ln[:17] for ln in lines])
    n = len(lines)
    if len(col) != 17 * n or col[16::17] != b" " * n:
        return None
    hexes = col.replace(b" ", b"")
    if len(hexes) != 16 * n:
        return None
    try:
        raw = bytes.fromhex(hexes.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return list(struct.unpack(f">{n}Q", raw))


def _slow_parse(lines: list[bytes]):
    """Generic parser (32-bit addresses, odd spacing); skips bad lines."""
    keep, addrs = [], []
    for ln in lines:
        m = _LINE_RE.match(ln)
        if not m:
            continue
        addr, typ, name, mod = m.groups()
        # Normalise to the fast layout so _decode reads it the same way.
        norm = b"%016x %s %s" % (int(addr, 16), typ, name)
        if mod:
            norm += b"\t[" + mod + b"]"
        keep.append(norm)
        addrs.append(int(addr, 16))
    return keep, addrs


def _name_of(line: bytes) -> str:
    rest = line[19:]
    tab = rest.find(b"\t")
    return (rest if tab < 0 else rest[:tab]).decode("utf-8", "replace")


def _decode(line: bytes, addr: int) -> KernelSymbol:
    typ = chr(line[17])
    rest = line[19:]
    tab = rest.find(b"\t")
    if tab < 0:
        return KernelSymbol(addr, rest.decode("utf-8", "replace"), typ, "")
    mod = rest[tab + 1:].strip()
    if mod.startswith(b"[") and mod.endswith(b"]"):
        mod = mod[1:-1]
    return KernelSymbol(addr, rest[:tab].decode("utf-8", "replace"), typ,
                        mod.decode("utf-8", "replace"))


# -- the process-wide instance ---------------------------------------------

_cache: dict[str, KernelSymbols] = {}


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def kernel_symbols(refresh: bool = False,
                   path: str = KALLSYMS) -> KernelSymbols:
    """The shared KernelSymbols for this boot (loaded on first call, kept
    in memory only). refresh=True reloads (new modules, BPF programs).
    OSError if kallsyms cannot be read."""
    key = f"{boot_id()}:{path}"
    ks = _cache.get(key)
    if ks is None or refresh:
        ks = KernelSymbols.load(path)
        _cache.clear()
        _cache[key] = ks
    return ks
