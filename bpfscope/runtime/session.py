"""A tracing session: load, attach, run, print, and clean up.

The session owns every kernel object of a run through its file
descriptors; :meth:`Session.close` (also reached from ``with``, signals and
errors) closes them all, which detaches every probe and frees every map and
program. Nothing is attached through tracefs text files, so a killed
process leaves nothing behind either.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from typing import Callable

from ..attach import providers
from ..attach.reattach import Watcher
from ..bpf.consts import MapType, ProgType
from ..bpf.features import map_create_hint, missing_helper, missing_helper_of
from ..bpf.maps import BpfMap
from ..bpf.mmapevents import MmapEvents
from ..bpf.prog import ProgLoadError, load_program, prog_info, prog_test_run
from ..bpf.ringbuf import RingBuffer
from ..bpf.sys import BpfSyscallError, close_fd
from ..codegen.script import EXIT, LOST, RINGBUF, USTACK_PIDS, CompiledScript, EventSpec
from ..errors import (BpfscopeError, KernelError, VerifierError, WarningLog, collecting,
                      format_located, span_end, warn)
from ..sema import registry
from ..sema import types as T
from .decode import compile_decoder, decode, u64
from .mapread import read_map
from .printf import compile_format, compile_record_format
from .shortkeys import ShortKeyMap
from .stackids import StackIdMap
from .progress import Progress
from .usermap import UserMap
from .stackresolve import StackResolver
from .usyms import user_symbols
from .sink import OutputSink

MAP_TYPES = {"hash": MapType.HASH, "percpu_hash": MapType.PERCPU_HASH,
             "percpu_array": MapType.PERCPU_ARRAY, "ringbuf": MapType.RINGBUF,
             "array": MapType.ARRAY, "stack_trace": MapType.STACK_TRACE,
             "lru_hash": MapType.LRU_HASH, "lru_percpu_hash": MapType.LRU_PERCPU_HASH}
ZERO_KEY = b"\0\0\0\0"

VERIFIER_TAIL = 5
# -v names each record as bpftrace 0.26 names its async actions; bpfscope's
# own kinds where the two say the same thing. Every record here travels on
# the one ring buffer, which 0.26 calls the normal one.
ASYNC_ACTION_NAMES = {"print_value": "print_non_map", "print_map": "print"}
INTERRUPTED = 255  # the exit code of a run stopped by a signal while attaching
# bpftrace 0.26's warning for a map update that failed with E2BIG
# the -k checks (DropSite kinds): message, helper, its return code
HELPER_CHECKS = {
    "lookup": ("Can't lookup map element because it does not exist.", "map_lookup_elem", 0),
    "delete": ("Can't delete map element because it does not exist.", "map_delete_elem", -2),
}
MAP_FULL = ("Map full; can't update element. Try increasing max_map_keys config or manually "
            "setting the max entries in a map declaration e.g. `let @a = hash(5000)`")


def _map_kernel_name(name: str) -> str:
    return ("bs_" + name.lstrip("@.") or "bs_anon")[:15]


class Session:
    """Run one compiled script. ``verbose`` puts full verifier logs in
    errors; ``on_attached`` is called once every probe is attached (the
    CLI starts a ``-c`` child there)."""

    def __init__(self, script: CompiledScript, sink: OutputSink, verbose: bool = False,
                 mode: str | None = None, probe_filter: str | None = None):
        self.script = script
        # 'bench' (--mode bench) runs the bench: probes, which --probe-filter selects
        self.mode = mode
        self.probe_filter = probe_filter
        self.bench: list[tuple[str, str, int]] = []   # (benchmark, probe name, fd)
        self.sink = sink
        self.verbose = verbose
        self.maps: dict[str, BpfMap] = {}
        self.prog_fds: list[int] = []
        self.attach_fds: list[int] = []
        self.ringbuf: RingBuffer | None = None
        self.begin: list[int] = []
        self.end: list[int] = []
        self.on_signal: dict[str, list[int]] = {}   # self:signal:NAME programs
        self._signals_pending: list[str] = []
        self.exiting = False
        self.exit_code = 0
        # an exit record was read: as bpftrace (finalize_), every record
        # after it is dropped until END runs
        self._finalized = False
        self._sigint = None  # the SIGINT handler run() found, given back before the maps print
        self._lost_seen = 0
        self._printf: dict[int, tuple] = {}
        self._record_texts: dict | None = None  # event id -> fast text (consume)
        self._warned: set[int] = set()
        self.resolver = None  # set in load() once the stack maps exist
        self._pids_seen: dict[int, str] = {}  # pid -> executable when last read
        self._watch: Watcher | None = None  # uprobe files replaced mid-trace
        self._attached: list[tuple] = []  # (probe, the fds attaching it)
        # index of a program -> the later ones that share it (load): they
        # are attached together, by one link
        self.groups: dict[int, list[int]] = {}
        self._hook_missed: list[tuple[str, int]] = []  # read before detaching
        self._mmap_events: MmapEvents | None = None
        # a sink that wants printf's values too, not only its text (bpfscope.trace)
        self._printf_event = getattr(sink, "printf_event", None)

    # ------------------------------------------------------------ setup

    def load(self):
        """Create maps and load programs; raises VerifierError naming the probe."""
        try:
            for spec in self.script.maps.values():
                if spec.map_type == "user":   # updated by records (runtime.usermap)
                    self.maps[spec.name] = UserMap(spec)
                    continue
                self.maps[spec.name] = BpfMap.create(
                    MAP_TYPES[spec.map_type], spec.key_size, spec.value_size,
                    spec.max_entries, name=_map_kernel_name(spec.name), flags=spec.flags)
        except BpfSyscallError as e:
            hint = map_create_hint(MAP_TYPES[spec.map_type], spec.key_size, e.errno)
            raise KernelError(f"Failed to create map: {e}" + (f": {hint}" if hint else "")) from None
        for spec in self.script.maps.values():
            if spec.short is not None:  # one map to user space (codegen.shortkeys)
                short, size = spec.short
                self.maps[spec.name] = ShortKeyMap(self.maps[spec.name], self.maps[short], size)
            if spec.copies is not None:  # one map to user space (codegen.stackids)
                self.maps[spec.name] = StackIdMap(self.maps[spec.name], self.maps[spec.copies],
                                                  self.script.maps[spec.copies])
        self.ringbuf = RingBuffer(self.maps[RINGBUF])
        demangle = bool(int(self.script.config.get("cpp_demangle", 1)))
        user_symbols().demangle = demangle  # usym() values
        # show_debug_info: on by default, as in bpftrace 0.26 built with
        # blazesym (its release builds)
        debug_info = bool(int(self.script.config.get("show_debug_info", 1)))
        self.resolver = StackResolver(USTACK_PIDS in self.maps, demangle=demangle,
                                      debug_info=debug_info)
        self.resolver.stack_maps = {s.name: self.maps[s.name] for s in self.script.maps.values()
                                    if s.kind == "stackids"}
        if self.resolver.user:  # ustack or usym: keep processes' mappings
            self._record_mappings()
        fds = {name: m.fd for name, m in self.maps.items()}
        shared: dict = {}  # (group key, program) -> index of its first probe
        progs = self.script.programs
        # kprobe_session: a kprobe and a kretprobe of one function in one
        # program, loaded at the first of the two, shared by the other
        merged = providers.sessions([ps.probe for ps in progs], [ps.program for ps in progs])
        for i, ps in enumerate(progs):
            leader = next((k for k, v in merged.items() if v[0] == i), None)
            if leader is not None:
                self.groups.setdefault(leader, []).append(i)
                self.prog_fds.append(os.dup(self.prog_fds[leader]))
                continue
            if i in merged:
                fd = self._load_session(ps, merged[i][1], merged[i][2], fds)
                if fd is not None:
                    self.prog_fds.append(fd)
                    continue
                del merged[i]   # the verifier said no: each half on its own
            code = ps.program.encode(fds)
            key = providers.group_key(ps.probe)
            if key is not None:
                # the same code for probes one link can hold: one program
                # (a wildcard whose probes do not use probe/func)
                key = (key, ps.prog_type, code, repr(ps.program.functions),
                       repr(sorted(ps.probe.load.items())))
                first = shared.setdefault(key, i)
                if first != i:
                    self.groups.setdefault(first, []).append(i)
                    self.prog_fds.append(os.dup(self.prog_fds[first]))
                    continue
            try:
                fd = load_program(ProgType[ps.prog_type.upper()], code, self._license(),
                                  name=_prog_name(ps.name),
                                  functions=ps.program.functions, **ps.probe.load)
            except ProgLoadError as e:
                raise self._verifier_error(ps, e, code) from None
            except BpfSyscallError as e:
                raise KernelError(f"Failed to load the program for {ps.name}: {e}",
                                  ps.probe.span) from None
            self.prog_fds.append(fd)
            when = providers.run_once(ps.probe)
            if when == "begin":
                self.begin.append(fd)
            elif when == "end":
                self.end.append(fd)
            elif when == "signal":
                self.on_signal.setdefault(ps.probe.target[1], []).append(fd)
            elif when == "bench":
                self.bench.append((ps.probe.target[1], ps.name, fd))

    def _load_session(self, ps, program, load: dict, fds: dict) -> int | None:
        """The fd of a merged kprobe_session program, None when the kernel
        refuses it (the pair then loads and attaches apart)."""
        try:
            return load_program(ProgType[ps.prog_type.upper()], program.encode(fds),
                                self._license(), name=_prog_name(ps.name),
                                functions=program.functions, **load)
        except (ProgLoadError, BpfSyscallError):
            return None

    def _record_mappings(self):
        """Have the kernel record every executable mapping from now on, so
        the stacks of processes that exit at once still resolve."""
        try:
            self._mmap_events = MmapEvents()
        except OSError as e:
            self.sink.warning(f"cannot record the mappings of new processes ({e}): "
                              "stacks of processes that exit quickly may show addresses")
            return
        user_symbols().record_from(self._mmap_events.read)

    def _license(self) -> str:
        """The licence the programs are loaded with: the ``license`` config
        (bpftrace 0.26's), GPL by default."""
        return str(self.script.config.get("license", "GPL"))

    def _verifier_error(self, ps, e: ProgLoadError, code: bytes = b"") -> VerifierError:
        if "from non-GPL compatible program" in e.log:
            # GPL-only helpers and kfuncs refuse a program of another licence
            return VerifierError("Your bpftrace program cannot load because you are using a "
                                 "license that is non-GPL compatible. License: "
                                 f"{self._license()}", log=e.log)
        lines = e.log.strip().splitlines()
        shown = lines if self.verbose else lines[-VERIFIER_TAIL:]
        detail = "\n".join(shown)
        if not self.verbose:
            detail += "\n(run with -v for the full verifier log)"
        missing = missing_helper(e.log) or missing_helper_of(code)
        if missing:
            return VerifierError(f"Error loading BPF program for {ps.name}: {missing}",
                                 log=e.log, span=ps.probe.span,
                                 detail=detail if self.verbose else "")
        return VerifierError(f"Error loading BPF program for {ps.name}: the verifier "
                             f"rejected it ({e.strerror})", log=e.log,
                             span=ps.probe.span, detail=detail)

    def attach(self) -> bool:
        """Attach every probe but those run once (BEGIN/END); all or nothing.
        False when SIGINT/SIGTERM came before the last one (as bpftrace, the
        attaching stops there, and close() detaches what was attached)."""
        attached = []
        skipped = 0
        followers = {j for js in self.groups.values() for j in js}
        progs = self.script.programs
        progress = Progress("Attaching probes",
                            sum(not providers.run_once(ps.probe) for ps in progs), self._progress)
        for i in _attach_order(progs):
            ps, fd = progs[i], self.prog_fds[i]
            if providers.run_once(ps.probe) or i in followers:
                continue
            if self.exiting:
                # close() detaches these, counting them on its progress line
                self._attached = [(probe, fds) for probe, _, fds in attached]
                return False
            progress.update(len(attached))
            try:
                group = [i] + self.groups.get(i, [])
                fds = providers.attach_group([progs[j].probe for j in group], fd)
                self.attach_fds.extend(fds)
                # the link is the first probe's; the others hold no fds
                attached.extend((progs[j].probe, self.prog_fds[j], fds if j == i else [])
                                for j in group)
            except OSError as e:
                # missing_probes: 'warn' and 'ignore' go on without it
                policy = self.script.config.get("missing_probes", "error")
                text = f"Unable to attach probe: {ps.name}: {e.strerror or e}"
                if policy == "error":
                    raise KernelError(f"{text}. If this is expected, set the 'missing_probes' "
                                      "config variable to 'warn'.", ps.probe.span) from None
                if policy == "warn":
                    warn(f"{text}, skipping probe.", ps.probe.span)
                skipped += 1 + len(self.groups.get(i, []))
            except BpfscopeError as e:
                e.span = e.span or ps.probe.span
                raise
        self._watch = Watcher(attached, follows=providers.reattaches)
        self._attached = [(probe, fds) for probe, _, fds in attached]
        self.sink.attached(len(self.script.programs) - skipped)
        return True

    # ------------------------------------------------------------ running

    def _warning(self, w) -> None:
        if w.span is not None and w.source is None:  # laid out at its place in the script
            w = dataclasses.replace(w, source=getattr(self.script, "source", None))
        show = getattr(self.sink, "script_warning", None)
        if show is not None:
            show(w)
        else:   # a sink of the API's users, written before warnings were data
            self.sink.warning(w.message)

    def run(self, duration: float | None = None,
            on_attached: Callable[[], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> int:
        """Load, attach, run BEGIN, process events until exit()/signal/
        ``should_stop``, run END, print maps. Returns the exit code."""
        # signals are the main thread's: a session run in another thread
        # (bpfscope.trace, the exporter) is ended through should_stop
        old = ({s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM,
                                                 signal.SIGUSR1)}
               if threading.current_thread() is threading.main_thread() else {})

        def stop(signum, frame):
            self.exiting = True

        # warnings of attach and run time are shown as they come; those of
        # the compile, which printed nothing, first
        warnings = collecting(WarningLog(forward=self._warning))
        warnings.__enter__()

        def usr1(signum, frame):
            # self:signal:SIGUSR1 probes run from the loop below
            self._signals_pending.append("SIGUSR1")

        self._sigint = old.get(signal.SIGINT)
        try:
            for w in getattr(self.script, "warnings", ()):
                self._warning(w)
            for s in old:
                signal.signal(s, usr1 if s == signal.SIGUSR1 else stop)
            self.load()
            # As bpftrace: BEGIN runs before any other probe is attached, so
            # no event sees the maps before BEGIN set them, and BEGIN's
            # records come first in the ring buffer (printed below, after
            # "Attached N probes", as bpftrace prints them).
            for fd in self.begin:
                prog_test_run(fd)
            if not self.attach():
                # bpftrace 0.26 returns -1 from its attach loop: no END, no
                # maps, nothing of the ring buffer printed, exit status 255
                return INTERRUPTED
            if on_attached:
                on_attached()
            self.drain()
            self.fire()
            if self.mode == "bench":
                self.run_benchmarks()
            self.check_exit()
            if self.only_run_once() and duration is None and should_stop is None:
                # as bpftrace 0.26: a script of BEGIN/END probes alone has
                # nothing left to wait for once BEGIN has run
                self.exiting = True
            deadline = time.monotonic() + duration if duration else None
            while not self.exiting:
                self.run_signal_probes()
                self.ringbuf.wait(100)
                self.consume()
                self.check_lost()
                self.check_exit()
                self.preload_pids()
                if self._mmap_events is not None:
                    user_symbols().take_records()
                if self._watch:
                    self._watch.poll(self._replace_fds)
                if deadline and time.monotonic() >= deadline:
                    break
                if should_stop and should_stop():
                    break
            self.finish()
        finally:
            self.close()
            for s, h in old.items():
                signal.signal(s, h)
            warnings.__exit__()
        return self.exit_code

    def only_run_once(self) -> bool:
        """Does the script have nothing but probes the session runs once
        (BEGIN/END): none attached, no self:signal or bench: probe?"""
        return (not self._attached and not self.on_signal and not self.bench
                and all(providers.run_once(ps.probe) for ps in self.script.programs))

    def run_benchmarks(self) -> None:
        """--mode bench: time each selected bench: program and report the
        results; the session then ends, without printing maps."""
        from . import bench
        results = bench.measure(bench.selected(self.bench, self.probe_filter))
        self.drain()
        show = getattr(self.sink, "benchmark_results", None)
        if show is not None:
            show(results)
        self.exiting = True

    def run_signal_probes(self) -> None:
        """Run the self:signal programs of the signals that came since the
        last turn of the loop, once per signal received."""
        while self._signals_pending:
            name = self._signals_pending.pop(0)
            for fd in self.on_signal.get(name, ()):
                prog_test_run(fd)

    def fire(self) -> None:
        """Set off the probes the session fires itself (iterators), printing
        what their programs sent; the session ends when one says so."""
        for probe, fds in self._attached:
            try:
                ends = providers.fire(probe, fds, lambda line: self.sink.printf(line + "\n"))
            except OSError as e:
                raise KernelError(f"Failed to run {probe.name}: {e.strerror or e}",
                                  probe.span) from None
            if ends:
                self.drain()
                self.exiting = True

    def finish(self):
        """Detach probes, run END, drain output and print the maps."""
        self._hook_missed = self.hook_misses()
        attached = bool(self.attach_fds)
        self.detach()
        if attached:
            # a grace period (about 100 ms): only detached programs need it,
            # not a script of BEGIN and END alone
            _quiesce()
        self.drain()
        self._finalized = False  # END's records are printed
        self._record_texts = None  # and may take the fast path again
        for fd in self.end:
            prog_test_run(fd)
        self.drain()
        self.check_lost()
        self.report_missed()
        self.report_drops()
        # as bpftrace once END has run: another ^C is the caller's again
        # (a KeyboardInterrupt, for the CLI the end), not lost while a
        # large map prints
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)
        if int(self.script.config.get("print_maps_on_exit", 1)) and self.mode != "bench":
            self.sink.maps_at_exit([self.read(spec.name) for spec in self.script.user_maps])
        self.sink.flush()

    def hook_misses(self) -> list[tuple[str, int]]:
        """(probe name, count) of the probes whose kernel hook missed hits
        (kprobes' nmissed); the counts live in the links, so this is read
        while they are attached."""
        out = []
        for probe, fds in self._attached:
            n = providers.missed(probe, fds)
            if n:
                out.append((probe.name, n))
        return out

    def report_missed(self):
        """Events the trace did not see: the kernel skips a program that
        would recurse on its CPU and counts it (bpf_prog_info), and a
        kprobe counts the hits it missed itself."""
        for name, missed in self.recursion_misses():
            self.sink.missed_events(name, missed, "recursion")
        for name, n in self._hook_missed:
            self.sink.missed_events(name, n, "kprobe")

    def recursion_misses(self) -> list[tuple[str, int]]:
        """(probe name, count) of the programs the kernel skipped because
        they were already running on the CPU (bpf_prog_info)."""
        out = []
        followers = {j for js in self.groups.values() for j in js}
        for i, (ps, fd) in enumerate(zip(self.script.programs, self.prog_fds)):
            if i in followers:
                continue  # counted with the first probe of its program
            try:
                missed = prog_info(fd).recursion_misses
            except OSError:
                continue
            if missed:
                out.append((ps.name, missed))
        return out

    def drain(self):
        was = self.exiting
        self.consume()
        self.exiting = self.exiting or was

    def check_lost(self):
        """Report dropped records, and each place whose map filled up (once)."""
        total = self._lost_count(0)
        if total > self._lost_seen:
            self.sink.lost_events(total - self._lost_seen)
            self._lost_seen = total
        for i, site in enumerate(self.script.drop_sites, 1):
            if site.kind == "full" and i not in self._warned and self._lost_count(i):
                self._warned.add(i)
                self.sink.map_full(format_located("WARNING", MAP_FULL, site.span, getattr(
                    self.script, "source", None)), *self._place(site.span)[:3])
            elif site.kind in HELPER_CHECKS and i not in self._warned and self._lost_count(i):
                # -k: once per place, in bpftrace 0.26's words
                self._warned.add(i)
                msg, helper, retcode = HELPER_CHECKS[site.kind]
                head, _, rest = format_located("WARNING", msg, site.span, getattr(
                    self.script, "source", None)).partition("\n")
                info = f"Additional Info - helper: {helper}, retcode: {retcode}"
                self.sink.helper_failed("\n".join(x for x in (head, info, rest) if x), msg,
                                        helper, retcode, *self._place(site.span)[:3])

    def report_drops(self):
        """At exit: per place in the script, the stacks the kernel could
        not walk and the strings (str, join, buf, tracepoint fields) cut
        at max_strlen; the updates a full user-space map dropped."""
        strlen = int(self.script.config.get("max_strlen", 1024))
        for i, site in enumerate(self.script.drop_sites, 1):
            n = self._lost_count(i) if site.kind in ("stack", "strcut") else 0
            if n:
                self.sink.dropped(site.kind, n, site.name, strlen, *self._place(site.span))
        if self.verbose:
            self._report_stack_copies()
        for m in self.maps.values():
            if isinstance(m, UserMap) and m.dropped:
                self.sink.warning(f"{m.spec.name}: {m.dropped} updates of new keys were "
                                  f"dropped: it held {m.spec.max_entries} keys, its most")

    def _report_stack_copies(self):
        """-v: per map with stack ids, the events whose stacks got no id
        and went to its map of copies, and how many of those it dropped."""
        sites = self.script.drop_sites
        lost = {(s.name, s.span): self._lost_count(i) for i, s in enumerate(sites, 1)
                if s.kind == "stackid_lost"}
        for i, site in enumerate(sites, 1):
            n = self._lost_count(i) if site.kind == "stackid" else 0
            if n:
                self.sink.stack_copies(n, lost.get((site.name, site.span), 0), site.name,
                                       *self._place(site.span))

    def _lost_count(self, slot: int) -> int:
        """Counter ``slot`` of LOST (one array element of u64 counters,
        which every CPU adds to atomically)."""
        v = self.maps[LOST].lookup(b"\0" * 4) or b""
        return u64(v[8 * slot:8 * slot + 8]) if len(v) >= 8 * slot + 8 else 0

    def _place(self, span) -> tuple:
        """(file name, line, column, end column) of a span of the script."""
        src = getattr(span, "file", None) or getattr(self.script, "source", None)
        if span is None or src is None:
            return "stdin", 0, 0, 0
        return src.name, span.line, span.col, span_end(span, src)

    def preload_pids(self):
        """Read the mappings of processes whose user stacks were taken, and
        again when one has exec'd another program since."""
        pids = self.maps.get(USTACK_PIDS)
        if pids is None:
            return
        for key in pids.keys():
            pid = int.from_bytes(key, "little")
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue  # gone, or a kernel thread
            if self._pids_seen.get(pid) != exe:
                self._pids_seen[pid] = exe
                self.resolver.note_pid(pid)

    def check_exit(self):
        """Has a probe called exit()? (see codegen.script.EXIT)"""
        val = self.maps[EXIT].lookup(ZERO_KEY)
        if val and u64(val):
            self.exiting = True
            self.exit_code = decode(T.INT64, val, 8)

    @property
    def trailer(self) -> str:
        """What bpftrace appends to a string it takes to be cut short."""
        return str(self.script.config.get("str_trunc_trailer", ".."))

    def read(self, name: str):
        m = self.maps[name]
        if isinstance(m, UserMap):
            return m.data()
        return read_map(self.script.maps[name], m, self.resolver, self.trailer)

    # ------------------------------------------------------------ events

    def finalize(self) -> None:
        """exit() was called: drop every record that follows until END."""
        self._finalized = True

    def consume(self) -> int:
        """Print every record the ring buffer holds. printf records of simple
        formats (plain integers and strings) into
        a sink whose printf takes joined texts become text straight from
        the ring, and are written in batches: this is what keeps up with a
        burst (issue 18)."""
        texts = self._record_texts
        if texts is None:
            texts = self._record_texts = self._fast_texts()
        if not texts:
            return self.ringbuf.consume(self.on_record)
        return self.ringbuf.consume_texts(texts, self.sink.printf, self._on_slow_record)

    def _fast_texts(self) -> dict:
        # -v says every record (on_record): no batches then
        if self.verbose or self._printf_event is not None \
                or not getattr(self.sink.printf, "joins", False):
            return {}
        full = int(self.script.config.get("max_strlen", 1024)) - 1
        texts = {}
        for ev in self.script.events.values():
            if ev.kind == "printf" and ev.fmt is not None:
                text = compile_record_format(ev.fmt, ev.layout, full, self.trailer)
                if text is not None:
                    texts[ev.id] = text
        return texts

    def _on_slow_record(self, data: bytes):
        self.on_record(data)
        if self._finalized:  # after exit(), every record is dropped
            self._record_texts.clear()

    def on_record(self, data: bytes):
        if self._finalized:
            return
        ev = self.script.events.get(u64(data))
        if ev is None:
            self.sink.warning(f"unknown event id {u64(data)}")
            return
        if self.verbose:
            sys.stderr.write(f"[NORMAL] Event print async action "
                             f"{ASYNC_ACTION_NAMES.get(ev.kind, ev.kind)}\n")
        self.handle(ev, data)

    def handle(self, ev: EventSpec, data: bytes):
        """What the function that sent the record does in user space (its
        record's on_record handler, sema.registry)."""
        on = registry.event_handler(ev.kind)
        if on is not None:
            on(self, ev, data)

    def formatted(self, ev: EventSpec, data: bytes) -> str:
        """The text of a printf-like record."""
        return self.printf_parts(ev, data)[1]

    def printf_parts(self, ev: EventSpec, data: bytes) -> tuple[tuple, str]:
        """The arguments of a printf-like record and its text. As bpftrace's printf, a string
        argument one byte short of max_strlen (its NUL making it full) is
        taken to be cut short and gets the trailer."""
        fast = self._printf.get(ev.id)
        if fast is None:  # compiled once per printf, not once per event
            full = int(self.script.config.get("max_strlen", 1024)) - 1
            strings = [(i, 8 + off, t.length) for i, (t, off) in
                       enumerate(zip(ev.layout.elems, ev.layout.offsets))
                       if isinstance(t, T.StringType) and t.length >= full]
            fast = self._printf[ev.id] = (compile_decoder(ev.layout, self.resolver),
                                          compile_format(ev.fmt), strings, full)
        decoder, formatter, strings, full = fast
        args = decoder(data, 8) if ev.args else ()
        for i, off, length in strings:
            nul = data.find(b"\0", off, off + length)
            if (length if nul < 0 else nul - off) == full:
                args = args[:i] + (args[i] + self.trailer,) + args[i + 1:]
        return args, formatter(args)

    # ------------------------------------------------------------ cleanup

    def _replace_fds(self, old: list[int], new: list[int]):
        """A probe was attached again (attach.reattach): own the new fds,
        close the old ones."""
        self.attach_fds.extend(new)
        # (a probe sharing another's link holds no fds: it keeps none)
        self._attached = [(p, new if old and fds == old else fds)
                          for p, fds in self._attached]
        for fd in old:
            self.attach_fds.remove(fd)
            close_fd(fd)

    def detach(self):
        self._watch = None
        fds, self.attach_fds = self.attach_fds, []
        jobs = self._detach_jobs(fds)
        progress = Progress("Detaching probes", sum(n for n, _ in jobs), self._progress)
        done = 0
        if len(fds) < DETACH_IN_PARALLEL:
            for n, job in jobs:
                progress.update(done)
                _detach_all(job)
                done += n
        else:
            # The kernel waits out a grace period in each perf event's release
            # (about 70 ms here: 360 tracepoints took 26 s, as with bpftrace
            # 0.17); closes from several threads wait together (11 s).
            from concurrent.futures import ThreadPoolExecutor  # imports logging
            progress.update(0)
            with ThreadPoolExecutor(DETACH_THREADS) as pool:
                for (n, _), _ in zip(jobs, pool.map(_detach_all, [job for _, job in jobs])):
                    done += n
                    progress.update(done)
        progress.finish("Detached")

    def _detach_jobs(self, fds: list) -> list[tuple[int, list]]:
        """The fds by probe, for the progress line: (probes, their fds); a
        probe sharing its group's link counts with the probe holding it."""
        jobs: list[tuple[int, list]] = []
        owned = set(fds)
        for _, pfds in self._attached:
            mine = [fd for fd in pfds if fd in owned]
            if mine or not pfds:
                if mine or not jobs:
                    jobs.append((1, mine))
                else:
                    jobs[-1] = (jobs[-1][0] + 1, jobs[-1][1])
                owned -= set(mine)
        rest = [fd for fd in fds if fd in owned]
        jobs.extend((0, [fd]) for fd in rest)
        return [(n, job) for n, job in jobs if job or n]

    def _progress(self, line: str) -> None:
        show = getattr(self.sink, "progress", None)
        if show is not None:
            show(line)

    def close(self):
        self.detach()
        if self._mmap_events is not None:
            user_symbols().take_records()  # what finish() left unread
            user_symbols().record_from(None)
            self._mmap_events.close()
            self._mmap_events = None
        if self.ringbuf is not None:
            self.ringbuf.close()
            self.ringbuf = None
        for fd in self.prog_fds:
            close_fd(fd)
        self.prog_fds = []
        for m in self.maps.values():
            m.close()
        self.maps = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


DETACH_THREADS = 32
DETACH_IN_PARALLEL = 64  # fds; fewer close in a few seconds one by one


def _detach_one(fd) -> None:
    close_fd(fd)
    # a tracefs kprobe also has its event to remove (attach.kprobe)
    getattr(fd, "release", lambda: None)()


def _detach_all(fds) -> None:
    for fd in fds:
        _detach_one(fd)


def _quiesce():
    """Wait out programs still running on other CPUs after their probes
    were detached: closing a perf event or link unhooks the program, but
    one already running finishes under RCU. membarrier(MEMBARRIER_CMD_GLOBAL)
    is a synchronize_rcu(), so after it nothing detached can still write
    records, and END's output is the last. Best effort: without it (nohz_full
    CPUs, old kernels) the window is that of one program run."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(324, 1, 0, 0)  # SYS_membarrier (x86-64), MEMBARRIER_CMD_GLOBAL
    except (OSError, AttributeError):
        pass


def _prog_name(name: str) -> str:
    tail = name.split(":")[-1] or name
    return "".join(c if c.isalnum() or c == "_" else "_" for c in tail)[:15]


def _attach_order(progs) -> list[int]:
    """The programs' indexes in the order to attach them: the script's,
    but for the probes the kernel runs newest first (uprobes), which take
    the places of theirs in reverse, so that two probes on one function
    run in the script's order, as bpftrace's do."""
    order = list(range(len(progs)))
    lifo = [i for i in order if providers.newest_first(progs[i].probe)]
    for place, i in zip(lifo, reversed(lifo)):
        order[place] = i
    return order


def child_exited(pid: int) -> Callable[[], bool]:
    """A should_stop callback: true once child ``pid`` has exited."""
    def check() -> bool:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        return done == pid
    return check
