"""``bpfscope.trace()``: a bpftrace script as a Python object.

::

    with bpfscope.trace('tracepoint:syscalls:sys_enter_getppid /pid == %d/ '
                        '{ @n = count(); }' % os.getpid()) as t:
        for _ in range(321):
            os.getppid()
        print(t.maps["@n"])      # 321

``trace()`` compiles the script in the calling thread (a mistake in it
raises the :class:`~bpfscope.errors.BpfscopeError` whose ``format()`` is
bpftrace's message), then loads, attaches and runs the session's event
loop in a thread of its own; entering the ``with`` returns once every
probe is attached, so what the block does next is seen. Leaving it, or
:meth:`Tracer.stop`, ends the trace as bpftrace's Ctrl-C does (END runs).

Maps are read from the kernel when asked (:attr:`Tracer.maps`), as Python
values: a map without keys is its value, a keyed map a dict whose keys are
the key (an int, a str, a tuple for several keys); ``count``/``sum``/
``min``/``max``/``avg`` values are ints, ``stats`` a :class:`Stats`,
``hist``/``lhist`` a list of :class:`Bucket` (first to last non-empty
bucket), stacks lists of symbolized frames, ``buf()`` bytes. After the
trace ends, the maps keep the values they had at the end.

printf records arrive as :class:`Event` objects through
:meth:`Tracer.events`, with their fields named after the arguments
(bpfscope.lang.names: ``printf("%s %d\\n", comm, pid)`` gives ``comm``
and ``pid``). Nothing is printed unless ``output=`` names a stream for
bpftrace's text output.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TextIO, cast

from . import api
from .errors import ScriptWarning
from .runtime.session import Session
from .runtime.stacks import Stack
from .runtime.values import (AvgValue, Buffer, MapData, StatsValue, Symbolic,
                             bucket_bounds)

__all__ = ["trace", "Tracer", "Event", "Bucket", "Stats", "map_value"]


class Bucket(NamedTuple):
    """One histogram bucket: values ``low <= v < high`` (None: unbounded)."""

    low: int | None
    high: int | None
    count: int  # type: ignore[assignment]  # the field, not tuple.count


class Stats(NamedTuple):
    """A ``stats()`` entry: how many values, their total and average."""

    count: int  # type: ignore[assignment]  # the field, not tuple.count
    sum: int
    avg: int


def python_value(v: Any) -> Any:
    """One decoded value as plain Python: stacks as lists of frames,
    symbols as their text, buffers as bytes, tuples element-wise."""
    if isinstance(v, Stack):
        return list(v.frames)
    if isinstance(v, Buffer):
        return v.data
    if isinstance(v, Symbolic):
        return v.text
    if isinstance(v, StatsValue):
        return Stats(v.count, v.total, v.average)
    if isinstance(v, AvgValue):
        return v.average
    if isinstance(v, tuple):
        return tuple(python_value(e) for e in v)
    if isinstance(v, dict):
        return {k: python_value(e) for k, e in v.items()}
    return v


def _key(key: tuple) -> Any:
    k = python_value(key)
    k = tuple(tuple(e) if isinstance(e, list) else e for e in k)  # stacks: hashable
    return k[0] if len(k) == 1 else k


def buckets(data: MapData, counts: dict[int, int]) -> list[Bucket]:
    """A hist/lhist entry as buckets, from the first to the last non-empty."""
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [Bucket(*bucket_bounds(data, i), counts.get(i, 0)) for i in range(first, last + 1)]


def map_value(data: MapData, keyless: bool = False) -> Any:
    """A map as read (runtime.values.MapData) as a Python value (see the
    module's doc); ``keyless``: the map has no keys, so an empty one is
    the value nothing was put in yet (0, [] or None), not ``{}``."""
    def value(v):
        return buckets(data, v) if data.kind in ("hist", "lhist") else python_value(v)
    if data.entries and data.entries[0][0] == ():
        return value(data.entries[0][1])
    if not data.entries and keyless:
        return EMPTY.get(data.kind)
    return {_key(k): value(v) for k, v in data.entries}


# a keyless map nothing was put in yet
EMPTY: dict[str, Any] = {"count": 0, "sum": 0, "hist": [], "lhist": []}


class Event:
    """One printf (or errorf/warnf) record: ``text`` as printed, the
    arguments in order (``args``) and by name (``fields``, also as
    attributes and items: ``ev.pid``, ``ev["comm"]``)."""

    __slots__ = ("kind", "text", "args", "fields", "time")

    def __init__(self, kind: str, text: str, names=(), args=()):
        self.kind = kind
        self.text = text
        self.args = tuple(python_value(a) for a in args)
        self.fields = dict(zip(names, self.args))
        self.time = time.time()

    def __getattr__(self, name: str):
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str):
        return self.fields[name]

    def __repr__(self) -> str:
        return f"Event({self.kind}, {self.fields or self.text!r})"


class _Recorder:
    """The sink of a traced script: keeps what the program reports
    (events, warnings, the tracer's health) and, when asked, passes
    everything on to a text sink."""

    def __init__(self, inner=None, max_events: int = 100_000):
        self.inner = inner
        self.keep = max_events > 0
        self.events: queue.Queue[Event] = queue.Queue(max(max_events, 1))
        self.events_dropped = 0
        self.warnings: list[ScriptWarning] = []
        self.probes = 0
        self.lost = 0

    def _put(self, ev: Event) -> None:
        if not self.keep:
            return
        try:
            self.events.put_nowait(ev)
        except queue.Full:
            self.events_dropped += 1

    def attached(self, n: int) -> None:
        self.probes = n
        self._on("attached", n)

    def printf_event(self, ev, args, text: str) -> None:
        if self.keep:
            self._put(Event(ev.kind, text, ev.names, args))

    def errorf(self, text, *where) -> None:
        self._put(Event("errorf", text))
        self._on("errorf", text, *where)

    def warnf(self, text, *where) -> None:
        self._put(Event("warnf", text))
        self._on("warnf", text, *where)

    def lost_events(self, n: int) -> None:
        self.lost += n
        self._on("lost_events", n)

    def script_warning(self, w) -> None:
        self.warnings.append(w)
        self._on("script_warning", w)

    def warning(self, msg: str) -> None:
        self.warnings.append(ScriptWarning(msg))
        self._on("warning", msg)

    def _on(self, name: str, *args) -> None:
        if self.inner is not None:
            getattr(self.inner, name)(*args)

    def __getattr__(self, name: str):
        # everything else (printf text, maps at exit, ...) only for the
        # text sink, when there is one
        if self.inner is not None:
            return getattr(self.inner, name)
        return lambda *a, **k: None


class _Discard:
    """A text stream that keeps nothing (the side of the output not asked for)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _Session(Session):
    """A session whose maps other threads read: closing waits for a read
    under way, and the maps' last values stay readable after it."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.lock = threading.Lock()
        self.final: dict[str, MapData] = {}

    def finish(self):
        super().finish()
        self.final = {spec.name: self.read(spec.name) for spec in self.script.user_maps}

    def close(self):
        with self.lock:
            super().close()


class Tracer:
    """A compiled script, running in a thread of its own once started
    (``with`` or :meth:`start`); see the module's doc."""

    def __init__(self, script, sink: _Recorder, verbose: bool = False):
        self.script = script
        self._sink = sink
        self._session = _Session(script, sink, verbose=verbose)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.exit_code: int | None = None
        self.started = 0.0

    # ------------------------------------------------------------ life

    def start(self) -> "Tracer":
        """Load and attach; returns once every probe is attached (raises
        what stopped it from getting there)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="bpfscope-trace", daemon=True)
        self._thread.start()
        try:
            self._ready.wait()
        except BaseException:  # ^C while loading: nothing stays attached
            self.stop()
            raise
        if self._error is not None and not self.running:
            err, self._error = self._error, None
            raise err
        return self

    def _run(self) -> None:
        self.started = time.time()
        try:
            self.exit_code = api.run(self.script, self._sink, verbose=self._session.verbose,
                                     on_attached=self._ready.set,
                                     should_stop=self._stop.is_set, session=self._session)
        except BaseException as e:  # told to the caller in start()/stop()
            self._error = e
        finally:
            self._ready.set()

    def stop(self, timeout: float | None = None) -> int | None:
        """End the trace (END runs, the maps keep their last values) and
        return its exit code; raises an error the run ended with."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return self.exit_code

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the script ends by itself (exit()); True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "Tracer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ data

    @property
    def maps(self) -> "MapsView":
        """The script's maps by name (``"@n"``), read when asked."""
        return MapsView(self)

    def map_names(self) -> list[str]:
        return [spec.name for spec in self.script.user_maps]

    def read(self, name: str) -> MapData:
        """One map as runtime.values.MapData (what the printers and the
        exporter take), live while the trace runs, else its last value."""
        s = self._session
        if name not in self.script.maps or name not in self.map_names():
            raise KeyError(name)
        with s.lock:
            if s.maps:
                return s.read(name)
        if name in s.final:
            return s.final[name]
        raise RuntimeError(f"{name} cannot be read: the trace is not running")

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """printf/errorf/warnf records as they come, until the trace ends
        (and what it left is taken) or, with ``timeout``, until none came
        for that many seconds."""
        q = self._sink.events
        quiet_since = time.monotonic()
        while True:
            try:
                ev = q.get(timeout=0.05)
            except queue.Empty:
                if not self.running and q.empty():
                    return
                if timeout is not None and time.monotonic() - quiet_since >= timeout:
                    return
                continue
            quiet_since = time.monotonic()
            yield ev

    @property
    def warnings(self) -> list[ScriptWarning]:
        """Warnings of the compile and of the run so far."""
        return list(self._sink.warnings)

    def health(self) -> dict[str, Any]:
        """What the tracer knows of itself: probes attached, events lost
        (ring buffer full) and missed (the kernel skipped a program), map
        updates that failed on a full map (per map), events the Python
        side dropped because nobody took them, and per map with stack ids
        the events whose stacks got no id (codegen.stackids): sent to its
        map of copies, and of those the ones lost there."""
        s = self._session
        out: dict[str, Any] = {"probes": self._sink.probes, "lost": self._sink.lost,
                               "events_dropped": self._sink.events_dropped,
                               "missed": {}, "map_full": {}, "stack_copies": {}}
        with s.lock:
            if not s.maps:
                return out
            missed = s.recursion_misses() + s.hook_misses()
            for probe, n in missed:
                out["missed"][probe] = out["missed"].get(probe, 0) + n
            full = out["map_full"]
            for i, site in enumerate(self.script.drop_sites, 1):
                if site.kind == "full":  # a count per place; told per map
                    full[site.name] = full.get(site.name, 0) + s._lost_count(i)
                elif site.kind in ("stackid", "stackid_lost"):
                    c = out["stack_copies"].setdefault(site.name, {"events": 0, "lost": 0})
                    c["events" if site.kind == "stackid" else "lost"] += s._lost_count(i)
        return out


class MapsView(Mapping):
    """``tracer.maps``: a read-only mapping of map names to their current
    Python values ("@n" or "n")."""

    def __init__(self, tracer: Tracer):
        self._t = tracer

    def __getitem__(self, name: str) -> Any:
        if not name.startswith("@"):
            name = "@" + name
        spec = self._t.script.maps.get(name)
        return map_value(self._t.read(name),
                         keyless=spec is not None and not (spec.key and spec.key.elems))

    def __iter__(self):
        return iter(self._t.map_names())

    def __len__(self) -> int:
        return len(self._t.map_names())


def trace(script: str, *, name: str = "stdin", params=(), named: dict | None = None,
          config: dict | None = None, pid: int | None = None, unsafe: bool = False,
          uprobe_inlined: bool = False, output: TextIO | None = None,
          errors: TextIO | None = None, verbose: bool = False,
          max_events: int = 100_000, debuginfo=None) -> Tracer:
    """Compile ``script`` (bpftrace's language) and return a
    :class:`Tracer` to start with ``with`` (or ``.start()``).

    ``name`` is what error messages call the script; ``params`` are its
    positional parameters ($1 ...), ``named`` its named ones (getopt);
    ``config`` sets config variables (``{"max_strlen": 128}``); ``pid``
    limits user-space probes to one process; ``output`` (and ``errors``)
    receive bpftrace's text output, which is not written otherwise;
    ``max_events`` bounds the events kept for :meth:`Tracer.events` (0:
    none are kept); ``debuginfo``: directories searched first for separate
    debug files, as the CLI's ``--debuginfo``.
    Raises :class:`~bpfscope.errors.BpfscopeError` for a mistake in the
    script."""
    cfg = dict(config or {})
    if unsafe:
        cfg["unsafe"] = 1
    compiled = api.compile_script(script, name, params=[str(p) for p in params],
                                  config=cfg or None, pid=pid,
                                  uprobe_inlined=uprobe_inlined, named=named,
                                  debuginfo=debuginfo)
    inner = None
    if output is not None or errors is not None:
        from .output.text import TextOutput
        inner = TextOutput(output or cast(TextIO, _Discard()),
                           errors or cast(TextIO, _Discard()))
    sink = _Recorder(inner, max_events)
    return Tracer(compiled, sink, verbose=verbose)

