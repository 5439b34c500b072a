"""Fixtures for the end-to-end tests: the real ``bpfscope`` CLI run in a child
process against the running kernel.

- ``kernel``: skips when not root or when bpf(2) cannot create a map.
- ``helper``: tests/e2e/progs/bse2e.c compiled with gcc into a tmp dir; a
  tiny program that makes countable events (openat N times, getpid N
  times, a rename), optionally after printing its pid and waiting for a
  byte on stdin, so a trace can be attached first.
- ``run_cli``: run ``python -m bpfscope.cli ARGS`` to completion.
- ``Trace``: start the CLI, wait until it reports its probes attached,
  then let the test cause events.
- ``no_leaks``: the BPF programs, maps and links that appeared during the
  test must all be gone at its end.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGS = Path(__file__).parent / "progs"
CLI = [sys.executable, "-m", "bpfscope.cli"]


def _bpf_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    try:
        from bpfscope.bpf.consts import MapType
        from bpfscope.bpf.maps import BpfMap
        BpfMap.create(MapType.ARRAY, 4, 4, 1).close()
    except Exception as e:  # noqa: BLE001 - any failure means: no BPF here
        return f"bpf(2) unavailable: {e}"
    return None


@pytest.fixture(scope="session")
def kernel():
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def helper(tmp_path_factory, kernel) -> str:
    """Path of the compiled bse2e helper (its comm is 'bse2e')."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the e2e helper")
    out = tmp_path_factory.mktemp("progs") / "bse2e"
    subprocess.run([gcc, "-O1", "-o", str(out), str(PROGS / "bse2e.c")],
                   check=True, capture_output=True)
    return str(out)


def run_cli(*args: str, input: str | None = None, timeout: float = 20,
            cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          input=input, timeout=timeout, cwd=cwd)


def run_prog(prog: str, *args: str, **kw) -> subprocess.CompletedProcess:
    """Run a one-liner quietly (-q) and insist it succeeded."""
    r = run_cli("-q", "-e", prog, *args, **kw)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _readline(stream, deadline: float) -> str:
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        ch = os.read(fd, 1)
        if not ch:
            break
        buf += ch
    return buf.decode()


class Trace:
    """``bpfscope ARGS`` started in the background; construction returns
    once it has printed 'Attached N probe(s)' on stderr."""

    def __init__(self, *args: str, timeout: float = 15):
        self.proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        self.head = ""
        while True:
            line = _readline(self.proc.stderr, deadline)
            self.head += line
            if line.startswith("Attached") or not line:
                break
        if not self.head.startswith("Attached"):
            out, err = self.finish(timeout=5)
            raise AssertionError(f"trace did not attach: {self.head}{err}")

    def finish(self, timeout: float = 15) -> tuple[str, str]:
        """Wait for the trace to end by itself; returns (stdout, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"trace did not end: {out!r} {err!r}")
        return out.decode(), self.head + err.decode()

    @property
    def returncode(self):
        return self.proc.returncode


class Waiting:
    """The helper started with -w: it has printed its pid and waits for
    ``go()`` before it acts."""

    def __init__(self, helper: str, *args: str):
        self.proc = subprocess.Popen([helper, "-w", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.pid = int(self.proc.stdout.readline())
        assert self.pid == self.proc.pid

    def go(self, timeout: float = 10) -> int:
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def waiting(helper):
    started = []

    def start(*args: str) -> Waiting:
        w = Waiting(helper, *args)
        started.append(w)
        return w
    yield start
    for w in started:
        w.kill()


def bpf_ids() -> tuple[set, set, set]:
    from bpfscope.bpf import objects
    return set(objects.prog_ids()), set(objects.map_ids()), set(objects.link_ids())


def assert_no_new_objects(before, wait: float = 5.0):
    """No program/map/link id absent from ``before`` is still alive. The
    kernel frees objects asynchronously (RCU), so poll for a while."""
    deadline = time.monotonic() + wait
    while True:
        now = bpf_ids()
        new = [sorted(n - b) for n, b in zip(now, before)]
        if not any(new) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert new == [[], [], []], f"left behind (progs, maps, links): {new}"


@pytest.fixture
def no_leaks(kernel):
    before = bpf_ids()
    yield before
    assert_no_new_objects(before)


@pytest.fixture(scope="session")
def e2e():
    """The helpers above, for test modules (conftest is not importable
    under --import-mode=importlib)."""
    import types
    return types.SimpleNamespace(run_cli=run_cli, run_prog=run_prog, Trace=Trace,
                                 bpf_ids=bpf_ids, CLI=CLI,
                                 assert_no_new_objects=assert_no_new_objects)
