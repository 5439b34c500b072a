"""kprobe and kretprobe: kernel function entry (or any instruction in a
function) and return.

Spec forms (bpftrace's), after the provider name::

    kprobe:vfs_read             a kernel function
    kprobe:vfs_read+16          a byte offset into it (not kretprobe)
    kprobe:ext4:ext4_file_open  a function of one module
    kprobe:vfs_*                every function the glob names (modules too)

Functions come from tracefs ``available_filter_functions`` when it is
readable (the ones ftrace can hook), else from the text symbols of
/proc/kallsyms; names in the kprobe blacklist (debugfs), ``__pfx_``/``__cfi_``
padding symbols and ``.cold`` pieces are left out of wildcards.

Attaching, most preferred first:

- ``multi``: a wildcard's probes on a kernel with kprobe_multi links
  (BPF_LINK_CREATE with BPF_TRACE_KPROBE_MULTI; needs CONFIG_FPROBE, so
  Debian 6.12 has them and 6.1 not); the program is loaded with
  expected_attach_type TRACE_KPROBE_MULTI. Tried once with a trivial
  program (cached).
- ``pmu``: a perf event of the kprobe PMU (type from
  /sys/bus/event_source/devices/kprobe/type, config1 points at the
  symbol, config2 is the offset, the format/retprobe bit for returns).
- ``tracefs``: a ``p:``/``r:`` line in tracefs kprobe_events, then a
  tracepoint perf event of its id. The event is removed again when the
  returned fd is released (:meth:`TracefsKprobe.release`) or, failing
  that, at interpreter exit.

Missed hits (the kernel's nmissed: a kprobe that fired while another
kprobe ran on its CPU, a kretprobe out of instances) are read at exit by
:meth:`Kprobe.missed`: from the link's bpf_link_info (Linux 6.7+, every
attach way with a BPF link), else for tracefs events from
``kprobe_profile``.

``BPFSCOPE_KPROBE_ATTACH=multi|pmu|tracefs`` forces one way (tests);
``BPFSCOPE_NO_KPROBES=1`` pretends kprobes are missing.

The kernel at hand decides between kprobe and fentry: on a kernel without
kprobes, ``kprobe:f``/``kretprobe:f`` run as fentry/fexit when BTF has the
function and fentry works (said once on stderr); without either the error
says why in one sentence. :mod:`.fallback` applies that choice; fentry
as kprobe is :meth:`Kprobe.expand_instead`.
"""

from __future__ import annotations

import atexit
import ctypes
import fnmatch
import functools
import os
import re
from dataclasses import dataclass

from ..errors import MissingProbe, SemanticError, warn
from ..sema.probes import PT_REGS, ArgField, ExpandedProbe
from ..arch.x86_64 import REGS_ARGS, REGS_RETVAL
from . import fentry, kfuncs
from .fallback import note_once
from .kfuncs import probe_name
from .provider import Provider, why_not
from .perfattach import attach_to_perf_event
from .specs import split_offset

PMU_DIR = "/sys/bus/event_source/devices/kprobe"
KALLSYMS = "/proc/kallsyms"
BLACKLIST = "/sys/kernel/debug/kprobes/blacklist"
BPF_F_KPROBE_MULTI_RETURN = 1


# ------------------------------------------------------------ spec parsing

@dataclass
class Spec:
    module: str | None
    func: str
    offset: int = 0


def parse_spec(ap, provider: str) -> Spec:
    mod, func = kfuncs.module_and_function(ap, provider)
    spec = Spec(mod, func)
    if "+" in func:
        spec.func, spec.offset = split_offset(func, provider, ap)
        if "*" in spec.func:
            raise SemanticError("Cannot use wildcards with an offset", ap.span)
    return spec


# ------------------------------------------------------------ kernel functions

def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


_AFF_RE = re.compile(rb"^(\S+)(?:\s+\[(\S+)\])?\s*$", re.M)
_KSYM_RE = re.compile(rb"^[0-9a-fA-F]+ [tTwW] (\S+)(?:\t\[(\S+)\])?$", re.M)


@functools.cache
def kernel_functions() -> tuple[tuple[str, str], ...]:
    """(module, name) of every kernel function, 'vmlinux' for the kernel
    itself, sorted, without duplicates."""
    data = _read(kfuncs.available_path())
    rx = _AFF_RE
    if data is None:
        data, rx = _read(KALLSYMS) or b"", _KSYM_RE
    out = set()
    for m in rx.finditer(data):
        name = m.group(1).decode()
        if name.startswith("__ftrace_invalid_address__"):
            continue
        out.add(((m.group(2) or b"vmlinux").decode(), name))
    return tuple(sorted(out))


@functools.cache
def blacklist() -> frozenset[str]:
    data = _read(BLACKLIST) or b""
    return frozenset(line.split()[-1].decode() for line in data.splitlines()
                     if line.strip())


def _wildcard_ok(name: str) -> bool:
    return not (name.startswith(("__pfx_", "__cfi_")) or ".cold" in name
                or name in blacklist())


def match(mod: str | None, func: str) -> list[tuple[str, str]]:
    """(module, name) pairs ``[mod:]func`` names; [] when nothing matches.
    A name without wildcards is taken as is when the function list is
    unreadable (the kernel then says whether it exists)."""
    funcs = kernel_functions()
    wild = "*" in func or (mod is not None and "*" in mod)
    if not wild:
        want_mod = mod or "vmlinux"
        hits = [(m, n) for m, n in funcs if n == func and (mod is None or m == mod)]
        if not funcs:
            return [(want_mod, func)]
        # vmlinux first, then the first module that has it
        hits.sort(key=lambda p: (p[0] != "vmlinux", p[0]))
        return hits[:1]
    return [(m, n) for m, n in funcs
            if (mod is None or fnmatch.fnmatchcase(m, mod))
            and fnmatch.fnmatchcase(n, func) and _wildcard_ok(n)]


# ------------------------------------------------------------ what this kernel has

def _pmu_type() -> int | None:
    try:
        return int(_read(f"{PMU_DIR}/type") or b"")
    except ValueError:
        return None


def _kprobe_events() -> str | None:
    from . import tracefs
    try:
        path = os.path.join(tracefs.tracefs_root(), "kprobe_events")
    except Exception:  # noqa: BLE001 - no tracefs at all
        return None
    return path if os.path.exists(path) else None


@functools.cache
def kprobe_status() -> str | None:
    """None when kprobes can be attached here, else why not (a phrase)."""
    if os.environ.get("BPFSCOPE_NO_KPROBES") == "1":
        return "kprobes are switched off (BPFSCOPE_NO_KPROBES=1)"
    if _pmu_type() is not None or _kprobe_events() is not None:
        return None
    return "kprobes are not built into this kernel"


class KprobeMultiAttr(ctypes.Structure):
    """BPF_LINK_CREATE for BPF_TRACE_KPROBE_MULTI."""
    _fields_ = [("prog_fd", ctypes.c_uint32), ("target_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("kflags", ctypes.c_uint32), ("cnt", ctypes.c_uint32),
                ("syms", ctypes.c_uint64), ("addrs", ctypes.c_uint64),
                ("cookies", ctypes.c_uint64)]


def kprobe_multi_link(prog_fd: int, syms: list[str], retprobe: bool,
                      session: bool = False) -> int:
    """A kprobe_multi link (``session``: a kprobe_session one, entry and
    return in one program) of the functions ``syms``."""
    from ..bpf.consts import AttachType, Cmd
    from ..bpf.sys import bpf
    bufs = [ctypes.create_string_buffer(s.encode()) for s in syms]
    arr = (ctypes.c_uint64 * len(syms))(*(ctypes.addressof(b) for b in bufs))
    kind = AttachType.TRACE_KPROBE_SESSION if session else AttachType.TRACE_KPROBE_MULTI
    attr = KprobeMultiAttr(prog_fd=prog_fd, attach_type=kind,
                           kflags=BPF_F_KPROBE_MULTI_RETURN if retprobe else 0,
                           cnt=len(syms), syms=ctypes.addressof(arr))
    what = "kprobe_session" if session else "kprobe_multi"
    return bpf(Cmd.LINK_CREATE, attr,
               detail=f"{what} link of {len(syms)} functions ({syms[0]}...)")


def _trial_link(session: bool) -> bool:
    """Whether a trivial program attaches to a harmless function with a
    kprobe_multi link (``session``: a kprobe_session one)."""
    from ..bpf.consts import AttachType, ProgType
    from ..bpf.prog import load_program
    from ..bpf.sys import close_fd
    names = {n for m, n in kernel_functions() if m == "vmlinux"}
    target = next((n for n in ("bpf_fentry_test1", "vfs_read") if n in names), None)
    if target is None:
        return False
    kind = AttachType.TRACE_KPROBE_SESSION if session else AttachType.TRACE_KPROBE_MULTI
    fd = lfd = None
    try:
        fd = load_program(ProgType.KPROBE, kfuncs._TRIVIAL, name="bpfscope_probe",
                          expected_attach_type=kind)
        lfd = kprobe_multi_link(fd, [target], False, session=session)
        return True
    except OSError:
        return False
    finally:
        close_fd(lfd)
        close_fd(fd)


@functools.cache
def kprobe_multi_ok() -> bool:
    """Whether kprobe_multi links work (tried once)."""
    return _trial_link(False)


NO_MULTI_ENV = "BPFSCOPE_NO_KPROBE_MULTI"  # --no-feature kprobe_multi
NO_SESSION_ENV = "BPFSCOPE_NO_KPROBE_SESSION"  # --no-feature kprobe_session


@functools.cache
def session_is_return_id() -> int | None:
    """The BTF id of the kernel function bpf_session_is_return (Linux
    6.10, with kprobe_session links) when kprobe_session links work here
    (tried once)."""
    if not kprobe_multi_ok():
        return None
    kid = kfuncs.kernel_func_id("bpf_session_is_return")
    return kid if kid is not None and _trial_link(True) else None


def session_pairs(probes: list[ExpandedProbe]) -> list[tuple[int, int]]:
    """(kprobe, kretprobe) indexes of ``probes`` that one kprobe_session
    program can serve: the same kernel function, no offset, each paired
    once. None on a kernel without kprobe_session links, with
    --no-feature kprobe_session, or when the attach way is forced."""
    if os.environ.get(NO_SESSION_ENV) == "1" or os.environ.get(NO_MULTI_ENV) == "1" \
            or os.environ.get("BPFSCOPE_KPROBE_ATTACH"):
        return []
    entries: dict[str, list[int]] = {}
    rets: dict[str, list[int]] = {}
    for i, p in enumerate(probes):
        t = p.target
        if p.provider not in ("kprobe", "kretprobe") or not isinstance(t, KprobeTarget) \
                or t.offset or ":" in t.symbol:
            continue
        (rets if t.retprobe else entries).setdefault(t.symbol, []).append(i)
    pairs = [(e, r) for sym, es in entries.items() for e, r in zip(es, rets.get(sym, ()))]
    if pairs and session_is_return_id() is None:
        return []
    return sorted(pairs)


def attach_mode(multi_wanted: bool) -> str:
    forced = os.environ.get("BPFSCOPE_KPROBE_ATTACH")
    if forced in ("multi", "pmu", "tracefs"):
        return forced
    if multi_wanted and os.environ.get(NO_MULTI_ENV) != "1" and kprobe_multi_ok():
        return "multi"
    return "pmu" if _pmu_type() is not None else "tracefs"


# ------------------------------------------------------------ the provider

@dataclass(frozen=True)
class KprobeTarget:
    """What attach needs: the symbol ('func' or 'module:func'), the offset,
    entry or return, and how to attach ('multi', 'pmu', 'tracefs')."""
    symbol: str
    offset: int
    retprobe: bool
    mode: str


def kprobe_probes(ap, provider: str, spec: Spec, pairs, args_of=None,
                  names=None) -> list[ExpandedProbe]:
    """The kprobe/kretprobe probes of (module, function) pairs."""
    from ..bpf.consts import AttachType
    ret = provider == "kretprobe"
    wild = "*" in spec.func or (spec.module is not None and "*" in spec.module)
    mode = attach_mode(wild and not spec.offset)
    out = []
    for i, (m, f) in enumerate(pairs):
        m_mode = "pmu" if mode == "multi" and m != "vmlinux" else mode
        if m_mode == "pmu" and _pmu_type() is None:
            m_mode = "tracefs"
        load = {"expected_attach_type": AttachType.TRACE_KPROBE_MULTI} if m_mode == "multi" else {}
        symbol = f if m == "vmlinux" else f"{m}:{f}"
        out.append(ExpandedProbe(
            provider, names[i] if names else probe_name(provider, m, f, spec.offset),
            KprobeTarget(symbol, spec.offset, ret, m_mode),
            args_of(m, f) if args_of else None, ap.span, func=f, layout=PT_REGS,
            is_return=ret, load=load))
    return out


class Kprobe(Provider):
    """The provider for "kprobe" and "kretprobe"."""

    names = ("kprobe", "kretprobe")
    aliases = {"k": "kprobe", "kr": "kretprobe"}
    prog_type = "kprobe"
    fallback = {"kprobe": "fentry", "kretprobe": "fexit"}

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        return self.probes(ap, provider, parse_spec(ap, provider))

    def parse_spec(self, ap, provider: str) -> Spec:
        return parse_spec(ap, provider)

    def status(self) -> str | None:
        return kprobe_status()

    def info(self) -> list[tuple[str, str]]:
        ok = kprobe_status() is None
        return [("kprobe", why_not(kprobe_status())),
                ("kprobe_multi", "yes" if ok and kprobe_multi_ok() else "no")]

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        return list_probes(pattern)

    def expand_instead(self, ap, provider: str, spec, why: str) -> list[ExpandedProbe]:
        """fentry/fexit on a kernel where fentry does not work:
        kprobe/kretprobe, with BTF-typed args (fentry: the first six
        parameters, from registers; fexit: none, only retval, typed by the
        BTF return type); ``spec``
        is fentry's (module, function)."""
        mod, func = spec
        kprov = "kretprobe" if provider == "fexit" else "kprobe"
        triples = fentry.expand_functions(ap, provider, mod, func)
        note_once(f"{why}: {provider} probes run as {kprov} probes")
        fids = {(m, f): fid for m, f, fid in triples}

        def args_of(m: str, f: str) -> list[ArgField] | None:
            kb = kfuncs.btf_of(m)
            proto = kfuncs.signature(kb, fids[(m, f)])
            if provider == "fexit":
                # retval typed by the function's BTF return type, as fexit
                # types it, read from the return register
                if not proto.ret:
                    return None
                ret = kfuncs.arg_field(kb, "$retval", proto.ret, REGS_RETVAL)[0]
                return [ret] if ret.kind in ("int", "bool", "pointer") else None
            out = []
            for a in kfuncs.func_args(kb, proto, False):
                slot = a.offset // 8
                if a.kind in ("int", "bool", "pointer") and slot < len(REGS_ARGS):
                    out.append(ArgField(a.name, REGS_ARGS[slot], 8 if a.size > 8 else a.size,
                                        a.signed, a.kind, a.c_type, user=a.user))
            return out or None

        pairs = [(m, f) for m, f, _ in triples]
        names = [f"{provider}:{m}:{f}" for m, f in pairs]
        return kprobe_probes(ap, kprov, Spec(mod, func), pairs, args_of, names)

    def probes(self, ap, provider: str, spec: Spec) -> list[ExpandedProbe]:
        """The probes of a parsed spec, on a kernel with kprobes."""
        pairs = match(spec.module, spec.func)
        if not pairs:
            if "*" in spec.func or (spec.module and "*" in spec.module):
                raise MissingProbe(f"No matches for {ap.raw}", ap.span)
            where = f" in module {spec.module}" if spec.module else ""
            raise MissingProbe(f"kernel function not found{where}: {spec.func}", ap.span)
        if spec.func in blacklist() and "*" not in spec.func:
            raise SemanticError(f"{spec.func} is on the kernel's kprobe blacklist: it "
                                "cannot be probed", ap.span)
        return kprobe_probes(ap, provider, spec, pairs)

    def sessions(self, probes: list[ExpandedProbe], programs: list) -> dict:
        """kprobe_session programs for the kprobe/kretprobe pairs of
        ``probes`` (their compiled ``programs``): {first index: (the
        other index, the merged program, its load arguments)}."""
        from ..bpf.consts import AttachType
        from ..codegen.assemble import session_program
        out = {}
        for e, r in session_pairs(probes):
            merged = session_program(programs[e], programs[r], session_is_return_id())
            if merged is not None:
                out[min(e, r)] = (max(e, r), merged,
                                  {"expected_attach_type": AttachType.TRACE_KPROBE_SESSION})
        return out

    def attach_group(self, probes: list[ExpandedProbe], prog_fd: int) -> list[int]:
        """A kprobe_session pair (:meth:`sessions`): one link for both."""
        sweep_stale_once()
        return [kprobe_multi_link(prog_fd, [probes[0].target.symbol], False, session=True)]

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        t: KprobeTarget = probe.target
        sweep_stale_once()
        if t.mode == "multi":
            return [kprobe_multi_link(prog_fd, [t.symbol], t.retprobe)]
        if t.mode == "pmu":
            pfd = open_kprobe(t.symbol, t.offset, t.retprobe)
            return attach_to_perf_event(prog_fd, pfd)
        ev = TracefsKprobe.create(t.symbol, t.offset, t.retprobe)
        try:
            # [link, ev] or [ev]: the event is closed (and released) last
            return attach_to_perf_event(prog_fd, ev)
        except BaseException:
            ev.release()
            raise


    def missed(self, probe: ExpandedProbe, fds: list[int]) -> int | None:
        """Hits the probe's kprobe missed so far (None: the kernel does
        not say). Read before detaching: the counts go with the links."""
        from ..bpf import link
        counts = []
        for fd in fds:
            n = link.kprobe_missed(fd)
            if not n and isinstance(fd, TracefsKprobe):
                n = profile_missed(fd.event.split("/", 1)[1])
            if n is not None:
                counts.append(n)
        return max(counts, default=None)


def profile_missed(event: str, text: str | None = None) -> int | None:
    """nmissed of tracefs kprobe event ``event`` (its name without the
    group) in kprobe_profile (lines: name, hits, misses)."""
    if text is None:
        from . import tracefs
        data = _read(os.path.join(tracefs.tracefs_root(), "kprobe_profile"))
        if data is None:
            return None
        text = data.decode(errors="replace")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == event and parts[2].isdigit():
            return int(parts[2])
    return None


# ------------------------------------------------------------ the PMU

def retprobe_bit() -> int:
    fmt = (_read(f"{PMU_DIR}/format/retprobe") or b"").decode().strip()
    m = re.fullmatch(r"config:(\d+)", fmt)
    return 1 << int(m.group(1)) if m else 1


def open_kprobe(symbol: str, offset: int, retprobe: bool) -> int:
    """One kprobe perf event (all processes, all CPUs); its fd."""
    from ..bpf import perf
    ptype = _pmu_type()
    if ptype is None:
        from ..errors import KernelError
        raise KernelError(f"this kernel has no kprobe PMU ({PMU_DIR}/type is missing)")
    buf = ctypes.create_string_buffer(symbol.encode())
    return perf.perf_event_open(ptype, retprobe_bit() if retprobe else 0, pid=-1, cpu=0,
                                config1=ctypes.addressof(buf), config2=offset)


# ------------------------------------------------------------ tracefs kprobe_events

_live: dict[str, "TracefsKprobe"] = {}
_counter = [0]


def _write_events(line: str) -> None:
    path = _kprobe_events()
    if path is None:
        from ..errors import KernelError
        raise KernelError("kprobes are not built into this kernel (no kprobe_events)")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class TracefsKprobe(int):
    """The perf fd of a kprobe made through tracefs kprobe_events; closing
    it detaches, :meth:`release` (after the close) removes the event. A
    private dup of the fd is kept so that release never closes an fd
    number the session's close already freed (and someone reused)."""

    event: str
    _own: int

    @classmethod
    def create(cls, symbol: str, offset: int, retprobe: bool) -> "TracefsKprobe":
        from ..bpf import perf
        from ..bpf.consts import PerfType
        from . import tracefs
        _counter[0] += 1
        group = f"bpfscope_{os.getpid()}"
        ev = re.sub(r"\W", "_", f"{'r' if retprobe else 'p'}_{symbol}_{_counter[0]}")
        target = symbol + (f"+{offset}" if offset else "")
        _write_events(f"{'r' if retprobe else 'p'}:{group}/{ev} {target}")
        event = f"{group}/{ev}"
        try:
            with open(os.path.join(tracefs.tracefs_root(), "events", group, ev, "id")) as f:
                tp_id = int(f.read())
            pfd = perf.perf_event_open(PerfType.TRACEPOINT, tp_id, pid=-1, cpu=0)
        except BaseException:
            _remove(event)
            raise
        obj = cls(pfd)
        obj.event = event
        obj._own = os.dup(pfd)
        _live[event] = obj
        return obj

    def release(self) -> None:
        """Remove the event; the session must have closed the fd itself
        (an error: the attach failed) or be about to exit."""
        from ..bpf.sys import close_fd
        if _live.pop(self.event, None) is None:
            return
        close_fd(self._own)
        _remove(self.event)


def _remove(event: str) -> None:
    try:
        _write_events(f"-:{event}")
    except OSError:
        pass


_STALE_RE = re.compile(r"^[pr](?:\d*):(bpfscope_(\d+))/(\S+)\s", re.M)


def stale_events(text: str, alive=None) -> list[str]:
    """``group/event`` of the bpfscope events in a kprobe_events or
    uprobe_events text whose creating tracer (the pid in the group name)
    is dead: left by a run that was killed before it could remove them.
    Events of live tracers are someone else's and stay."""
    if alive is None:
        alive = lambda pid: os.path.exists(f"/proc/{pid}")  # noqa: E731
    return [f"{m.group(1)}/{m.group(3)}" for m in _STALE_RE.finditer(text)
            if int(m.group(2)) != os.getpid() and not alive(int(m.group(2)))]


def sweep_stale(root: str) -> list[str]:
    """Remove the stale events of both files under tracefs ``root``;
    the ones removed."""
    removed = []
    for name in ("kprobe_events", "uprobe_events"):
        path = os.path.join(root, name)
        data = _read(path)
        if not data:
            continue
        for ev in stale_events(data.decode(errors="replace")):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, f"-:{ev}\n".encode())
                finally:
                    os.close(fd)
                removed.append(ev)
            except OSError:
                pass
    return removed


@functools.cache
def sweep_stale_once() -> None:
    """At the first kprobe attach: tracefs events outlive a SIGKILLed
    tracer, so remove those of dead bpfscope runs, saying so in one line."""
    if not os.path.isdir("/sys/kernel/tracing/events"):
        return  # not mounted: nothing can be left there, and no mount for this
    removed = sweep_stale("/sys/kernel/tracing")
    if removed:
        warn(f"Removed {len(removed)} stale tracefs probe event"
             f"{'s' if len(removed) > 1 else ''} left by killed bpfscope "
             f"runs: {', '.join(removed)}", note=True)


@atexit.register
def _release_all() -> None:
    """Events the session did not release (it closes fds only)."""
    for ev in list(_live.values()):
        ev.release()


# ------------------------------------------------------------ listing

def list_probes(pattern: str) -> list[str]:
    """``-l`` lines for a kprobe/kretprobe pattern."""
    parts = pattern.split(":")
    provider = Kprobe.aliases.get(parts[0], parts[0])
    if len(parts) == 1:
        parts.append("*")
    if len(parts) > 3:
        return []
    mod = parts[1] if len(parts) == 3 else None
    func = (parts[-1] or "*").split("+")[0]
    pairs = [(m, n) for m, n in kernel_functions()
             if (mod is None or fnmatch.fnmatchcase(m, mod))
             and fnmatch.fnmatchcase(n, func) and ("*" not in func or _wildcard_ok(n))]
    return sorted({probe_name(provider, m, n, 0) for m, n in pairs})
