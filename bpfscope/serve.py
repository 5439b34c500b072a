"""The Prometheus exporter: ``bpfscope --serve ADDR SCRIPT.bt ...``.

Each script runs as a :class:`bpfscope.tracer.Tracer` (its event loop in
a thread of its own); an HTTP server from the standard library, in
another thread, answers ``GET /metrics`` by reading every script's maps at
that moment (bpfscope.output.prometheus says how maps become metrics).
A scrape reads maps with bpf() lookups and takes no lock the event loops
wait for, so scraping never holds up event delivery; the one lock is
against a trace closing its maps under a read.

The scripts are files, directories (every ``*.bt`` in one) and ``-e``.
ADDR is ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; without a
host it is 127.0.0.1: binding to another address must be asked for.
With several scripts every sample has a ``script`` label (the file's
name). The exporter runs until SIGINT/SIGTERM, or until every script has
ended (exit()), and ends as bpftrace does: END runs, nothing stays attached.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO, cast

from .errors import BpfscopeError
from .output import prometheus as prom
from .tracer import Tracer, trace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_SERIES = 1000


def parse_addr(addr: str) -> tuple[str, int]:
    """``ADDR`` -> (host, port); ValueError for one that is not."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "", addr
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--serve {addr}: not a port or HOST:PORT")
    return host, int(port)


class Exporter:
    """The metrics of running tracers, as one exposition."""

    def __init__(self, tracers: list[tuple[str, Tracer]], max_series: int = DEFAULT_MAX_SERIES):
        self.tracers = tracers
        self.max_series = max_series
        self._hist_range: dict = {}
        self._range_lock = threading.Lock()
        self.last_duration = 0.0

    def families(self) -> list[prom.Family]:
        t0 = time.monotonic()
        fams: list[prom.Family] = []
        many = len(self.tracers) > 1
        for name, tracer in self.tracers:
            extra = [("script", name)] if many else []
            dropped: dict[str, int] = {}
            for map_name in tracer.map_names():
                try:
                    data = tracer.read(map_name)
                except RuntimeError:
                    continue  # ended before its maps could be kept
                spec = tracer.script.maps[map_name]
                with self._range_lock:
                    got, n = prom.map_families(data, spec.key_names, self.max_series, extra,
                                               self._hist_range,
                                               keyless=not (spec.key and spec.key.elems))
                fams.extend(got)
                if n:
                    dropped[map_name] = n
            fams.extend(prom.health_families(tracer.health(), tracer.running, dropped, extra))
        self.last_duration = time.monotonic() - t0
        fams.append(prom.Family(prom.PREFIX + "scrape_duration_seconds", "gauge",
                                "time this scrape took to read every map",
                                [("", [], round(self.last_duration, 6))]))
        return fams

    def scrape(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type) of one scrape; ``accept`` is the request's
        Accept header."""
        om = prom.wants_openmetrics(accept)
        text = prom.render(self.families(), openmetrics=om)
        return text.encode(), prom.OPENMETRICS_TYPE if om else prom.TEXT_TYPE


def _handler(exporter: Exporter):
    class Handler(BaseHTTPRequestHandler):
        server_version = "bpfscope"

        def do_GET(self):  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    body, ctype = exporter.scrape(self.headers.get("Accept"))
                except Exception as e:  # noqa: BLE001 - a scrape must answer
                    self._send(500, f"scrape failed: {e}\n".encode(), "text/plain")
                    return
                self._send(200, body, ctype)
            elif path == "/":
                self._send(200, b'<html><body><a href="/metrics">/metrics</a></body></html>\n',
                           "text/html")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass  # a scrape every few seconds is not news

    return Handler


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """``exporter`` served over HTTP from a thread (``with`` or start/stop)."""

    def __init__(self, exporter: Exporter, host: str = DEFAULT_HOST, port: int = 0):
        server = _Server6 if ":" in host else ThreadingHTTPServer
        self.httpd = server((host, port), _handler(exporter))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="bpfscope-http",
                                        daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _scripts(opts, rest) -> list[tuple[str, str]]:
    """(name, text) of every script to serve: -e's, each file, and every
    ``*.bt`` of a directory (in name order)."""
    out = []
    if opts.program is not None:
        out.append(("stdin", opts.program))
    for path in rest:
        paths = [path]
        if os.path.isdir(path):
            paths = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".bt"))
        for p in paths:
            with open(p) as f:
                out.append((p, f.read()))
    return out


def serve_main(opts, rest: list[str], named: dict) -> int:
    """The CLI's --serve: every argument after the options is a script."""
    try:
        host, port = parse_addr(opts.serve)
    except ValueError as e:
        sys.stderr.write(f"ERROR: {e}\n")
        return 1
    try:
        scripts = _scripts(opts, [r for r in rest if r != "--"])
    except OSError as e:
        sys.stderr.write(f"ERROR: failed to open file '{e.filename}': {e.strerror}\n")
        return 1
    if not scripts:
        sys.stderr.write("ERROR: --serve needs a script (-e 'program' or files)\n")
        return 1
    from .privileges import missing_privileges
    why = missing_privileges()
    if why:
        sys.stderr.write(f"ERROR: {why}\n")
        return 1
    tracers: list[tuple[str, Tracer]] = []
    err = sys.stderr
    try:
        for name, text in scripts:
            t = trace(text, name=name, named=named, unsafe=opts.unsafe, pid=opts.pid,
                      verbose=opts.verbose, max_events=0,
                      errors=None if opts.quiet else cast(TextIO, _Warnings(err, opts.no_warnings)))
            tracers.append((os.path.basename(name), t))
        exporter = Exporter(tracers, opts.serve_max_series or DEFAULT_MAX_SERIES)
        server = MetricsServer(exporter, host, port)
    except BpfscopeError as e:
        err.write(e.format() + "\n")
        return 1
    except OSError as e:
        err.write(f"ERROR: --serve {opts.serve}: {e.strerror or e}\n")
        return 1
    done = threading.Event()
    old = {signum: signal.signal(signum, lambda *_: done.set())
           for signum in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    started: list[Tracer] = []
    try:
        for _, t in tracers:
            t.start()
            started.append(t)
        server.start()
        h, p = server.address
        err.write(f"Serving metrics of {len(tracers)} script{'s' * (len(tracers) > 1)} "
                  f"at http://{'[%s]' % h if ':' in h else h}:{p}/metrics\n")
        err.flush()
        while not done.wait(0.2):
            if not any(t.running for t in started):
                break
    except BpfscopeError as e:
        err.write(e.format() + "\n")
        code = 1
    finally:
        server.stop()
        for t in started:
            try:
                code = t.stop() or code
            except BpfscopeError as e:
                err.write(e.format() + "\n")
                code = 1
        for signum, handler in old.items():
            signal.signal(signum, handler)
    return code


class _Warnings:
    """The exporter's stderr: warnings and errors only, no 'Attached'
    lines per script (the 'Serving' line says it all)."""

    def __init__(self, err, quiet_warnings: bool):
        self.err = err
        self.quiet = quiet_warnings

    def write(self, text: str) -> int:
        if text.startswith("Attached "):
            return len(text)
        if self.quiet and "WARNING" in text:
            return len(text)
        return self.err.write(text)

    def flush(self) -> None:
        self.err.flush()
