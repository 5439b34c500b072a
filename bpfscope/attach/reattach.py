"""Follow a uprobe's file when it is replaced while tracing.

A uprobe hangs off an inode. When the file at the probe's path is replaced
(a rebuild, a package upgrade: a new file renamed over the old path),
processes started afterwards map the new inode and the probe no longer
sees them. :class:`Watcher` notices: the session's event loop calls
:meth:`Watcher.poll` often, and about once a second it ``os.stat``\\ s each
distinct uprobe path (recorded with its ``st_dev``/``st_ino`` by the
uprobe provider in :class:`~bpfscope.attach.uprobe.UprobeTarget`). For a
path whose inode changed it resolves every probe of that path again in the
new file (the symbol plus the offset into it, or the same inlined copy),
opens a new uprobe perf event for the already loaded program, attaches it,
and hands the old and new fds to the session, which closes the old ones
(so the old inode's uprobe goes away). It says so on stderr::

    Re-attached uprobe:/usr/lib/libfoo.so:f: /usr/lib/libfoo.so was replaced (inode 123 -> 456)

The new file's code at the probe's address goes through the same checks
as at the start (:func:`bpfscope.attach.uprobesite.check_site`): an entry that
is now hazardous is skipped past or refused, one that no longer is gets the
probe back at the entry, an address that is no longer an instruction
boundary is refused. A probe that cannot be resolved or placed in the new
file stays on the old one, with a warning; the watcher tries again when
the path changes once more.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from ..elf import ElfError, SymbolTable
from ..errors import BpfscopeError, warn

INTERVAL = 1.0


class _Entry:
    """One attached uprobe: its probe, the program, the fds holding it."""

    def __init__(self, probe, prog_fd: int, fds: list[int]):
        self.probe = probe
        self.target = probe.target
        self.prog_fd = prog_fd
        self.fds = list(fds)


class Watcher:
    """Watches the files of attached uprobes; see the module docstring.
    ``attached`` is [(probe, prog_fd, fds)] for every attached probe; those
    ``follows(probe)`` declines are ignored (the session asks the probe's
    provider: Provider.reattaches)."""

    def __init__(self, attached, interval: float = INTERVAL,
                 say: Callable[[str], None] | None = None,
                 follows: Callable[[object], bool] = lambda probe: True):
        self.entries: dict[str, list[_Entry]] = {}
        self.ident: dict[str, tuple[int, int]] = {}
        for probe, prog_fd, fds in attached:
            t = probe.target
            if not follows(probe) or not getattr(t, "ino", 0):
                continue
            self.entries.setdefault(t.path, []).append(_Entry(probe, prog_fd, fds))
            self.ident.setdefault(t.path, (t.dev, t.ino))
        self.interval = interval
        self.say = say or (lambda text: warn(text, note=True))
        self._next = time.monotonic() + interval

    def __bool__(self) -> bool:
        return bool(self.entries)

    def poll(self, replace: Callable[[list[int], list[int]], None],
             force: bool = False) -> None:
        """At most once per interval (or now with ``force``): re-attach the
        probes of every replaced path; ``replace(old_fds, new_fds)`` lets
        the caller swap the fds it owns (and close the old ones)."""
        if not self.entries:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self.interval
        for path, entries in self.entries.items():
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone for now (mid-upgrade): look again later
            new = (st.st_dev, st.st_ino)
            old = self.ident[path]
            if new == old:
                continue
            self.ident[path] = new
            self._reattach(path, entries, old, new, replace)

    def _reattach(self, path, entries, old, new, replace) -> None:
        from ..elf.symbols import forget
        from . import inlined
        forget(path)
        inlined.forget(path)
        why = f"{path} was replaced (inode {old[1]} -> {new[1]})"
        try:
            st = SymbolTable(path)
        except (ElfError, OSError) as e:
            self.say(f"WARNING: cannot re-attach the uprobes on {path}: {why} and "
                     f"the new file cannot be read ({e}); they stay on the old file")
            return
        said = set()
        for e in entries:
            try:
                fds, target = _attach_again(e, st, new)
            except (BpfscopeError, OSError) as err:
                self.say(f"WARNING: cannot re-attach {e.probe.name}: {why} and "
                         f"{getattr(err, 'message', None) or err}; it stays on the old file")
                continue
            replace(e.fds, fds)
            e.fds, e.target = fds, target
            if e.probe.name not in said:
                said.add(e.probe.name)
                moved = target.vaddr - target.requested if target.requested else 0
                where = f" (placed at +{moved}, past its hazardous entry)" if moved else ""
                self.say(f"Re-attached {e.probe.name}{where}: {why}")
        st.close()


def _resolve(t, st: SymbolTable) -> int:
    """The virtual address t asked for, in the (new) file st."""
    from .inlined import inline_sites
    from .uprobe import _func_symbol
    from .uprobesite import code_at
    if t.site >= 0:
        sites = inline_sites(st.path, t.symbol, st) or []
        if len(sites) <= t.site:
            raise BpfscopeError(f"the new file has {len(sites)} inlined copies of "
                                f"{t.symbol}, not {t.site + 1}")
        return sites[t.site].addr
    if not t.symbol:
        # nothing names the place: the same address is only the same code
        # if the bytes are (an IFUNC's implementation moves between builds
        # of a library, and a probe on other code could corrupt it)
        addr = t.requested or t.vaddr
        if t.code and code_at(st, addr, len(t.code)) != t.code:
            raise BpfscopeError(f"the code at {addr:#x} is not the same in the new "
                                f"file, so the probed function cannot be found there")
        return addr
    sym = _func_symbol(st, t.symbol)
    if sym is None:
        raise BpfscopeError(f"{t.symbol} is not in the new file")
    if t.sym_offset and t.sym_offset >= max(sym.size, 1):
        raise BpfscopeError(f"{t.symbol}+{t.sym_offset} is outside {t.symbol} "
                            f"in the new file")
    return sym.value + t.sym_offset


def _label(t, want: int) -> str:
    """How check_site names the probe's place in its messages."""
    if t.site >= 0:
        return f"{t.symbol} (inlined copy {t.site + 1}) at {want:#x}"
    if not t.symbol:
        return f"{want:#x}"
    return t.symbol + (f"+{t.sym_offset}" if t.sym_offset else "")


def _attach_again(e: _Entry, st: SymbolTable, ident) -> tuple[list[int], object]:
    from .uprobe import attach_at
    from .uprobesite import check_site
    t = e.target
    want = _resolve(t, st)
    # the new file's code at that address is checked as the first one was:
    # its entry may have become hazardous, or stopped being so
    vaddr = check_site(st, t.path, want, _label(t, want), t.movable, t.unsafe, None,
                       e.probe.provider)
    off = st.elf.vaddr_to_offset(vaddr)
    if off is None:
        raise BpfscopeError(f"{vaddr:#x} is not in a loaded segment of the new file")
    target = dataclasses.replace(t, offset=off, vaddr=vaddr, requested=want,
                                 dev=ident[0], ino=ident[1])
    return attach_at(e.probe, e.prog_fd, off), target
