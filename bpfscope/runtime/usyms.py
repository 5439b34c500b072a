"""User-space symbols: (pid, address) -> ``func+off``.

What ustack, usym() and perf-mode user stacks print, the way bpftrace
prints them (through bcc's per-process symbol cache):

* a frame is ``func+off`` (decimal offset, ``+0`` included); usym() prints
  the bare ``func``; C++ names are demangled unless ``demangle=False``
  (bpftrace's ``cpp_demangle`` config);
* perf mode adds the file: ``func+off (/usr/lib/x86_64-linux-gnu/libc.so.6)``,
  and an unknown address prints ``0x7f3a... ([unknown])``;
* an address no symbol covers prints as hex, ``0x55d1c0de1234``.

How an address is found: the process's /proc/PID/maps (read once, at
:meth:`UserSymbols.preload` or the first lookup) gives the mapping that
contains it; the mapping's load bias (:meth:`ElfFile.load_bias`) turns the
runtime address into the ELF virtual address, looked up in that file's
:class:`SymbolTable`. Symbol tables are shared by every process mapping the
same file, keyed by (path, device, inode, mtime); the ELF file is mapped
into memory when first opened, so a binary deleted or replaced later still
resolves.

Processes exit before their stacks are printed (a map printed at the end of
a trace holds stacks of processes long gone), so the session calls
:meth:`preload` when it first sees a pid: that reads the maps and opens the
ELF files of the executable mappings at once, through ``/proc/PID/root``
(containers) or ``/proc/PID/map_files`` (deleted files). A lookup that
misses in a live process re-reads its maps (libraries loaded later with
``dlopen``), at most once per :attr:`UserSymbols.refresh_interval`.

A process may exit before any of that (a command that runs for a
millisecond): :meth:`UserSymbols.record_from` hands the symbolizer the
kernel's own record of executable mappings (bpf.mmapevents, written as
each process maps its files), which stands in for /proc/PID/maps of a
process that is gone.

Also resolved: the vDSO (its image is read once from this process's own
mapping: every process of one kernel and ABI maps the same one) and JIT
code listed in ``/tmp/perf-PID.map`` (read only when it passes perf's
checks, see :func:`read_perf_map`).
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import time
from typing import NamedTuple

from ..elf import ElfError, ElfFile, SymbolTable, demangle as _demangle
from ..elf.ldcache import Mapping, parse_maps
from ..errors import warn
from ..ksyms import hex_address


class UserSymbol(NamedTuple):
    """A resolved user address: the symbol's name (demangled or not), the
    offset into it and the file (as /proc/PID/maps names it)."""

    name: str
    offset: int
    path: str


class _Region:
    """One file-backed mapping of a process, ready for lookups."""

    __slots__ = ("start", "end", "perms", "path", "offset", "inode",
                 "deleted", "bias", "table", "opened")

    def __init__(self, m: Mapping):
        self.start = m.start
        self.perms = m.perms
        self.end = m.end
        self.path = m.path
        self.offset = m.offset
        self.inode = m.inode
        self.deleted = m.deleted
        self.bias: int | None = None
        self.table: SymbolTable | None = None
        self.opened = False


class _Proc:
    """The mappings of one process as last read."""

    __slots__ = ("pid", "regions", "starts", "read_at", "start_time",
                 "perf_map")

    def __init__(self, pid: int, regions: list[_Region], start_time: str):
        self.pid = pid
        regions.sort(key=lambda r: r.start)
        self.regions = regions
        self.starts = [r.start for r in regions]
        self.read_at = time.monotonic()
        self.start_time = start_time
        self.perf_map: tuple | None = None

    def find(self, addr: int) -> _Region | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and addr < self.regions[i].end:
            return self.regions[i]
        return None


class UserSymbols:
    """Symbolizer for user addresses of many processes.

    One instance per session: it caches maps per pid and symbol tables per
    file. ``demangle`` is the default for :meth:`resolve` and
    :meth:`format`.
    """

    def __init__(self, demangle: bool = True, refresh_interval: float = 1.0,
                 perf_map_dir: str = "/tmp"):
        self.demangle = demangle
        self.refresh_interval = refresh_interval
        self.perf_map_dir = perf_map_dir
        self._procs: dict[int, _Proc] = {}
        self._tables: dict[tuple, SymbolTable | None] = {}
        self._demangled: dict[str, str] = {}
        self._vdso: SymbolTable | None | bool = False  # False: not tried
        # pid -> executable mappings since its last exec, from the kernel's
        # mmap records (record_from)
        self._recorded: dict[int, list[Mapping]] = {}
        self._source = None

    # -- the kernel's mmap records ----------------------------------------

    MAX_RECORDED = 8192  # processes whose mappings are kept

    def record_from(self, read) -> None:
        """read() returns the mmap and exec records (bpf.mmapevents) written
        since it was last called; they are pulled when a lookup needs them
        and by :meth:`take_records`."""
        self._source = read

    def take_records(self) -> None:
        """Pull the pending records (the session calls this often enough
        for the kernel's buffers not to fill)."""
        if self._source is None:
            return
        from ..bpf.mmapevents import Exec
        rec = self._recorded
        for r in self._source():
            if isinstance(r, Exec):
                rec.pop(r.pid, None)
                rec[r.pid] = []
                continue
            lst = rec.get(r.pid)
            if lst is None:
                lst = rec[r.pid] = []
            lst.append(Mapping(r.start, r.end, r.perms, r.offset, r.dev, r.inode,
                               r.path))
        while len(rec) > self.MAX_RECORDED:
            rec.pop(next(iter(rec)))

    def _from_records(self, pid: int) -> _Proc | None:
        """pid's mappings as the kernel recorded them (it has exited)."""
        self.take_records()
        maps = self._recorded.get(pid)
        if not maps:
            return None
        proc = _Proc(pid, [_Region(m) for m in maps
                           if m.path.startswith("/") or m.path == "[vdso]"], "")
        self._procs[pid] = proc
        return proc

    # -- per-process maps -------------------------------------------------

    def preload(self, pid: int) -> bool:
        """Read pid's maps now and open the ELF files of its executable
        mappings, so its addresses resolve after it exits. False if the
        process is gone (or its maps unreadable)."""
        proc = self._read(pid)
        if proc is None:
            return False
        for r in proc.regions:
            if r.path.startswith("/") and "x" in r.perms:
                self._open(pid, r)
        return True

    def forget(self, pid: int) -> None:
        """Drop what is cached for pid (symbol tables stay shared)."""
        self._procs.pop(pid, None)

    def known_pids(self) -> list[int]:
        return sorted(self._procs)

    def _read(self, pid: int) -> _Proc | None:
        try:
            with open(f"/proc/{pid}/maps") as f:
                text = f.read()
        except OSError:
            return None
        start = _start_time(pid)
        old = self._procs.get(pid)
        regions = [_Region(m) for m in parse_maps(text)
                   if m.path.startswith("/") or m.path == "[vdso]"]
        if not regions:
            return None  # an exited process (a zombie) has no mappings left
        proc = _Proc(pid, regions, start)
        if old is not None and old.start_time == start:
            # Same process: keep what was already opened.
            opened = {(r.start, r.end, r.path, r.offset): r
                      for r in old.regions if r.opened}
            for i, r in enumerate(proc.regions):
                o = opened.get((r.start, r.end, r.path, r.offset))
                if o is not None:
                    proc.regions[i] = o
            proc.perf_map = old.perf_map
        self._procs[pid] = proc
        return proc

    def _proc(self, pid: int) -> _Proc | None:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._read(pid) or self._from_records(pid)
        return proc

    # -- symbol tables ----------------------------------------------------

    def _open(self, pid: int, r: _Region) -> SymbolTable | None:
        """The table of region r (opened once; None if not an ELF file)."""
        if r.opened:
            return r.table
        r.opened = True
        if r.path == "[vdso]":
            r.table = self._vdso_table()
            if r.table is not None:
                r.bias = r.start - r.offset
            return r.table
        for cand in _candidates(pid, r):
            try:
                st = os.stat(cand)
            except OSError:
                continue
            if r.inode and st.st_ino != r.inode:
                continue  # replaced on disk: not the mapped file
            key = (r.path, st.st_dev, st.st_ino, st.st_mtime_ns)
            if key in self._tables:
                table = self._tables[key]
            else:
                try:
                    table = SymbolTable(ElfFile(cand))
                    table.path = r.path
                except ElfError:
                    table = None
                self._tables[key] = table
            if table is None:
                return None
            try:
                r.bias = table.elf.load_bias(r.start, r.offset)
            except ElfError:
                return None
            r.table = table
            return table
        return None

    def _vdso_table(self) -> SymbolTable | None:
        if self._vdso is False:
            self._vdso = _load_own_vdso()
        return self._vdso or None

    # -- lookups ----------------------------------------------------------

    def resolve(self, pid: int, addr: int,
                demangle: bool | None = None) -> UserSymbol | None:
        """(name, offset, path) of addr in process pid, or None."""
        proc = self._proc(pid)
        if proc is None:
            return None
        r = proc.find(addr)
        if r is None and time.monotonic() - proc.read_at >= \
                self.refresh_interval:
            fresh = self._read(pid)
            if fresh is not None:
                proc = fresh
                r = proc.find(addr)
        if r is None:
            return self._perf_map_lookup(proc, addr, demangle)
        table = self._open(pid, r)
        if table is None or r.bias is None:
            return None
        hit = table.lookup_addr(addr - r.bias)
        if hit is None:
            return None
        return UserSymbol(self._name(hit.symbol.name, demangle), hit.offset,
                          r.path)

    def module_at(self, pid: int, addr: int) -> tuple[ElfFile, int] | None:
        """(the mapped ELF file, its load bias) holding ``addr`` in process
        pid, for reading more than symbols from it (unwinding tables)."""
        proc = self._proc(pid)
        r = proc.find(addr) if proc is not None else None
        if r is None:
            return None
        table = self._open(pid, r)
        if table is None or r.bias is None:
            return None
        return table.elf, r.bias

    def format(self, pid: int, addr: int, show_offset: bool = True,
               show_module: bool = False,
               demangle: bool | None = None) -> str:
        """A user frame as bpftrace prints it: 'func+off' ('func' without
        show_offset, as usym()); show_module (perf mode) appends
        ' (/path)'. Unknown: '0x...' (perf mode: '0x... ([unknown])')."""
        s = self.resolve(pid, addr, demangle)
        if s is None:
            out = hex_address(addr)
            return out + " ([unknown])" if show_module else out
        out = f"{s.name}+{s.offset}" if show_offset else s.name
        if show_module:
            out += f" ({s.path})"
        return out

    def format_frames(self, pid: int, addr: int, perf: bool = False,
                      demangle: bool | None = None,
                      return_address: bool = False) -> list[str]:
        """The frames of addr with its debug info (``show_debug_info``),
        innermost first, as bpftrace 0.26 prints them: each function inlined
        there as ``[inlined] name@file:line`` (perf mode: ``name
        (inlined)``), then ``func+off@file:line`` (perf mode: ``func+off
        (/path)``); without debug info, the one frame :meth:`format` gives.
        return_address: addr is a caller's frame, the address after its
        call, so its lines are looked up at addr - 1 (the call itself: the
        return address may already be past the inlined code or the line)."""
        s = self.resolve(pid, addr, demangle)
        mod = self.module_at(pid, addr) if s is not None else None
        from ..elf.inlinechain import source_info  # DWARF readers: only for stacks shown
        info = source_info(mod[0].path) if mod is not None else None
        if info is None:
            return [self.format(pid, addr, show_offset=True, show_module=perf,
                                demangle=demangle)]
        out = []
        wanted = self.demangle if demangle is None else demangle
        for f in info.frames(addr - mod[1] - (1 if return_address else 0), wanted):
            if f.inlined:
                text = f"{f.function} (inlined)" if perf else f"[inlined] {f.function}"
            else:
                text = f"{s.name}+{s.offset}"
                if perf:
                    text += f" ({s.path})"
            if not perf and f.file:
                text += f"@{f.file}:{f.line}"
            out.append(text)
        return out

    def _name(self, name: str, demangle: bool | None) -> str:
        if demangle is None:
            demangle = self.demangle
        if not demangle or not name.startswith("_Z"):
            return name
        out = self._demangled.get(name)
        if out is None:
            out = self._demangled[name] = _demangle(name)
        return out

    # -- JIT code: /tmp/perf-PID.map ----------------------------------------

    def _perf_map_lookup(self, proc: _Proc, addr: int,
                         demangle: bool | None) -> UserSymbol | None:
        path = os.path.join(self.perf_map_dir, f"perf-{proc.pid}.map")
        pm = proc.perf_map
        try:
            st = os.lstat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp is not None and (pm is None or pm[0] != stamp):
            pm = proc.perf_map = (stamp, *read_perf_map(path, proc.pid))
        if not pm:
            return None
        _, starts, entries = pm
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0:
            return None
        start, size, name = entries[i]
        if addr >= start + max(size, 1):
            return None
        return UserSymbol(self._name(name, demangle), addr - start, path)


def _candidates(pid: int, r: _Region) -> list[str]:
    """Paths to open the file of region r by, best first."""
    out = []
    if r.deleted:
        out.append(f"/proc/{pid}/map_files/{r.start:x}-{r.end:x}")
    rooted = f"/proc/{pid}/root{r.path}"
    out.append(rooted)
    out.append(r.path)
    if not r.deleted:
        out.append(f"/proc/{pid}/map_files/{r.start:x}-{r.end:x}")
    return out


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in ticks): tells a reused
    pid from the process that had it before."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    return rest[19].decode() if len(rest) > 19 else ""


# A JIT's map grows with the code it compiles; big Java services write a
# few MB. Past this the file is not read at all (a symlink to /dev/zero or
# a hostile giant must not eat the tracer's memory).
PERF_MAP_MAX_BYTES = 64 << 20


def _proc_uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _refuse(path: str, why: str) -> tuple[list[int], list]:
    warn(f"ignoring {path}: {why}", key=("perf map", path))
    return [], []


def read_perf_map(path: str, pid: int) -> tuple[list[int], list[tuple[int, int, str]]]:
    """Entries 'START SIZE name' (hex) of the perf map of process ``pid``,
    sorted; none when the file is not one to trust.

    /tmp is writable by everyone, so the file's names are believed only
    under perf's rules (tools/perf/util/symbol.c ignores a /tmp/perf-PID.map
    "not owned by current user or root"), with the owner compared to the
    traced process's user (the owner of /proc/PID), as the JIT that writes
    the map runs as that user: a regular file, not a symlink (O_NOFOLLOW),
    opened O_NONBLOCK and checked with fstat so that a FIFO never blocks,
    owned by root or that user, at most PERF_MAP_MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return [], []
    except OSError as e:
        return _refuse(path, "a symbolic link" if e.errno == errno.ELOOP else e.strerror)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _refuse(path, "not a regular file")
        owner = _proc_uid(pid)
        if st.st_uid != 0 and st.st_uid != owner:
            return _refuse(path, f"owned by uid {st.st_uid}, neither root nor the "
                                 f"user of process {pid}")
        if st.st_size > PERF_MAP_MAX_BYTES:
            return _refuse(path, f"bigger than {PERF_MAP_MAX_BYTES >> 20} MB")
        chunks, left = [], PERF_MAP_MAX_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:  # grew past the limit since the fstat
            return _refuse(path, f"bigger than {PERF_MAP_MAX_BYTES >> 20} MB")
    except OSError as e:
        return _refuse(path, e.strerror)
    finally:
        os.close(fd)
    entries = []
    for line in b"".join(chunks).decode(errors="replace").split("\n"):
        parts = line.rstrip("\r").split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            entries.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
        except ValueError:
            continue
    entries.sort()
    return [e[0] for e in entries], entries


def _load_own_vdso() -> SymbolTable | None:
    """This process's vDSO image as a SymbolTable, through a memfd."""
    try:
        with open("/proc/self/maps") as f:
            maps = parse_maps(f.read())
        vdso = next((m for m in maps if m.path == "[vdso]"), None)
        if vdso is None:
            return None
        fd = os.open("/proc/self/mem", os.O_RDONLY)
        try:
            image = os.pread(fd, vdso.end - vdso.start, vdso.start)
        finally:
            os.close(fd)
        mfd = os.memfd_create("bpfscope-vdso")
        try:
            os.write(mfd, image)
            table = SymbolTable(ElfFile(f"/proc/self/fd/{mfd}"))
        finally:
            os.close(mfd)
        table.path = "[vdso]"
        return table
    except (OSError, ElfError, AttributeError):
        return None


_shared: UserSymbols | None = None


def user_symbols() -> UserSymbols:
    """A process-wide UserSymbols for callers without a session."""
    global _shared
    if _shared is None:
        _shared = UserSymbols()
    return _shared
