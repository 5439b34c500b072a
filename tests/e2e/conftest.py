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
- ``no_leaks``: every BPF program, map, link and BTF object a tracer of
  the test made (its own ids, logged by owned_ids.py as it creates them)
  must be gone at the test's end. Objects of anything else on the machine
  are not counted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGS = Path(__file__).parent / "progs"
CLI = [sys.executable, "-m", "bpfscope.cli"]
# run_cli and Trace start the CLI through owned_ids.py, which logs the ids
# of the objects it creates (the module docstring says how)
_OWNED = Path(__file__).parent / "owned_ids.py"
_spec = importlib.util.spec_from_file_location("bpfscope_test_owned_ids", _OWNED)
owned_ids = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(owned_ids)
LOGGED_CLI = [sys.executable, str(_OWNED)]
_LOG_DIR: list[str] = []
_LOGS: list[str] = []          # id logs of every tracer started so far
_serial = itertools.count()


def _id_log_env() -> dict:
    """The environment of a new tracer process, with a log of its own."""
    if not _LOG_DIR:
        import atexit
        import tempfile
        _LOG_DIR.append(tempfile.mkdtemp(prefix="bpfscope-ids-"))
        atexit.register(shutil.rmtree, _LOG_DIR[0], True)
    path = os.path.join(_LOG_DIR[0], f"{os.getpid()}-{next(_serial)}.ids")
    _LOGS.append(path)
    # No progress lines ("Attaching probes: 1 of 2 (2 s)") unless a test
    # asks for them: on a loaded machine a slow attach would add them to
    # the stderr that tests compare whole
    return {"BPFSCOPE_PROGRESS_AFTER": "600", **os.environ, owned_ids.ENV: path}


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


def _build_prog(tmp_path_factory, source: str, *flags: str, optional: bool = False) -> str:
    """progs/SOURCE compiled with gcc -O1 FLAGS into a tmp dir (the
    program's name is the source's stem); skips the test saying why when
    there is no compiler, or when an ``optional`` program does not build
    (a header missing here: sys/sdt.h); other failures fail the test."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip(f"no C compiler to build {source}")
    out = tmp_path_factory.mktemp("progs") / Path(source).stem
    r = subprocess.run([gcc, "-O1", *flags, "-o", str(out), str(PROGS / source)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        if optional:
            pytest.skip(f"{source} does not build here: {r.stderr[-300:]}")
        raise AssertionError(f"{source} does not build: {r.stderr}")
    return str(out)


@pytest.fixture(scope="session")
def build_prog(tmp_path_factory, kernel):
    """``build_prog(SOURCE, *FLAGS, optional=False)``: see :func:`_build_prog`."""
    return lambda source, *flags, optional=False: _build_prog(tmp_path_factory, source, *flags,
                                                              optional=optional)


@pytest.fixture(scope="session")
def helper(build_prog) -> str:
    """Path of the compiled bse2e helper (its comm is 'bse2e')."""
    return build_prog("bse2e.c")


def build_c(tmp_path_factory, src: str, name: str) -> str:
    """``src`` compiled with gcc -O1 into a program of the test's own, in
    a tmp dir; skips when there is no C compiler."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip(f"no C compiler to build {name}")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.c").write_text(src)
    subprocess.run([gcc, "-O1", "-o", str(d / name), str(d / f"{name}.c")], check=True,
                   capture_output=True)
    return str(d / name)


def run_cli(*args: str, input: str | None = None, timeout: float = 20,
            cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*LOGGED_CLI, *args], capture_output=True, text=True,
                          input=input, timeout=timeout, cwd=cwd, env=_id_log_env())


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

    def __init__(self, *args: str, timeout: float = 40, wait_attached: bool = True):
        env = _id_log_env()
        self.id_log = env[owned_ids.ENV]
        self.proc = subprocess.Popen([*LOGGED_CLI, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.head = ""
        if wait_attached:
            self.wait_attached(timeout)

    def wait_attached(self, timeout: float = 40):
        deadline = time.monotonic() + timeout
        while True:
            line = _readline(self.proc.stderr, deadline)
            self.head += line
            if line.startswith("Attached") or not line:
                break
        if not line.startswith("Attached"):  # progress lines may come first
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

    def held(self) -> dict[str, set[int]]:
        """Ids of the BPF objects the tracer holds fds of right now."""
        return owned_ids.pid_ids(self.proc.pid)

    def created(self) -> dict[str, set[int]]:
        """Ids of every BPF object the tracer has created so far."""
        return owned_ids.read_log(self.id_log)


class Waiting:
    """The helper (or another program of progs/ that includes waitgo.h)
    started with -w: it has printed its pid and waits for ``go()`` before
    it acts."""

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


def bpf_ids() -> int:
    """A mark: tracers started after it are the ones
    :func:`assert_no_new_objects` checks."""
    return len(_LOGS)


def created_since(mark: int) -> dict[str, set[int]]:
    """Ids of the objects made by the tracers started since ``mark``."""
    out = {k: set() for k in owned_ids.KINDS}
    for path in _LOGS[mark:]:
        for k, ids in owned_ids.read_log(path).items():
            out[k] |= ids
    return out


def assert_gone(ids: dict[str, set[int]], wait: float = 5.0):
    """Every id of ``ids`` is gone from the kernel (polled for a while:
    the kernel frees objects after an RCU grace period)."""
    left = owned_ids.still_alive(ids, wait)
    assert not left, f"left behind by the tracer under test: {left}"


def assert_no_new_objects(mark: int, wait: float = 5.0):
    """No object of a tracer started since ``mark`` (:func:`bpf_ids`) is
    still alive."""
    assert_gone(created_since(mark), wait)


@pytest.fixture
def no_leaks(kernel):
    """Objects made during the test by the tracers it starts (run_cli,
    Trace) and by this process itself (a session run through the API) are
    all gone at its end."""
    from bpfscope.bpf import sys as bpfsys
    mine = {k: set() for k in owned_ids.KINDS}
    real = owned_ids.install(lambda kind, oid: mine[kind].add(oid), bpfsys)
    mark = bpf_ids()
    try:
        yield mine
    finally:
        bpfsys.raw_syscall = real
    ids = created_since(mark)
    for k in owned_ids.KINDS:
        ids[k] |= mine[k]
    assert_gone(ids)


@contextlib.contextmanager
def in_mount_namespace(directory, mnt, name: str):
    """Run ``directory/name`` in a mount namespace of its own, where a bind
    mount puts ``directory`` at ``mnt`` (empty outside): gives (its pid, the
    program's path inside) once it runs, kills it after; skips where that
    cannot be set up."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux)")
    path = os.path.join(str(mnt), name)
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f"mount --bind {directory} {mnt} && exec {path}"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{p.pid}/exe") == path:
                break
        except OSError:
            pass
        time.sleep(0.02)
    else:
        p.kill()
        p.wait()
        pytest.skip("the mount namespace could not be set up")
    try:
        assert not os.path.exists(path)  # outside, the mount point is empty
        yield p.pid, path
    finally:
        p.kill()
        p.wait()


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@contextlib.contextmanager
def memory_cgroup(name: str, limit: int, no_swap: bool = False):
    """A memory cgroup of the test's own limited to ``limit`` bytes (and,
    with ``no_swap``, kept from swapping, so that going over the limit
    means reclaim or an OOM kill): the path of its procs file. cgroup v2
    when its memory controller is enabled at the root, else v1's memory
    hierarchy (below this process's own cgroup); skips when there is
    neither. Removed at the end: its tasks must be gone by then (a killed
    one leaves a moment later, which is waited for)."""
    cg = limit_file = None
    mounts = [l.split() for l in open("/proc/self/mounts")]
    for _, mnt, fstype, *_ in mounts:
        if fstype == "cgroup2" and "memory" in _read_text(
                os.path.join(mnt, "cgroup.subtree_control")).split():
            cg, limit_file = os.path.join(mnt, f"{name}-{os.getpid()}"), "memory.max"
            swap = {"memory.swap.max": "0"}
            break
    if cg is None:
        own = [l.split(":", 2)[2] for l in _read_text("/proc/self/cgroup").splitlines()
               if "memory" in l.split(":")[1].split(",")]
        v1 = [m[1] for m in mounts if m[2] == "cgroup" and "memory" in m[3].split(",")]
        if not own or not v1:
            pytest.skip("no memory cgroup controller here (cgroup v2 with memory enabled "
                        "at the root, or v1's memory hierarchy)")
        cg = os.path.join(v1[0] + own[0].rstrip("/"), f"{name}-{os.getpid()}")
        limit_file, swap = "memory.limit_in_bytes", {"memory.swappiness": "0"}
    try:
        os.mkdir(cg)
    except OSError as e:
        pytest.skip(f"cannot make a memory cgroup here: {e}")
    try:
        with open(os.path.join(cg, limit_file), "w") as f:
            f.write(str(limit))
        for knob, value in (swap.items() if no_swap else ()):
            if os.path.exists(os.path.join(cg, knob)):
                with open(os.path.join(cg, knob), "w") as f:
                    f.write(value)
        yield os.path.join(cg, "cgroup.procs")
    finally:
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
        else:
            os.rmdir(cg)


def child_traced(code: str, child_args: list[str], *tool_args: str,
                 ready=None, json_out: bool = False, errs: list | None = None) -> tuple[str, int]:
    """A tool run with ``-p`` on a python child running ``code``, which
    waits for a byte on stdin before it acts: its stdout and the child's
    pid (the trace ends with the child). ``ready(child)`` (with the
    child's stdout a pipe) runs before the trace starts. With ``json_out``
    (the tool's JSON output) the output starts with the JSON line that says the probes are
    attached. The trace's stderr is appended to ``errs`` when given."""
    child = subprocess.Popen([sys.executable, "-c", code, *child_args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE if ready else None, text=True)
    try:
        if ready:
            ready(child)
        t = Trace(*tool_args, "-p", str(child.pid), wait_attached=not json_out)
        first = t.proc.stdout.readline().decode() if json_out else ""
        assert not json_out or json.loads(first)["type"] == "attached_probes", first
        child.stdin.write("g")
        child.stdin.close()
        assert child.wait(30) == 0
        out, err = t.finish(timeout=30)
    finally:
        child.kill()
        child.wait()
    assert t.returncode == 0 and "Traceback" not in err, err
    if errs is not None:
        errs.append(err)
    return first + out, child.pid


@pytest.fixture(scope="session")
def e2e():
    """The helpers above, for test modules (conftest is not importable
    under --import-mode=importlib)."""
    import types
    return types.SimpleNamespace(run_cli=run_cli, run_prog=run_prog, Trace=Trace, Waiting=Waiting,
                                 build_c=build_c,
                                 bpf_ids=bpf_ids, CLI=CLI, LOGGED_CLI=LOGGED_CLI,
                                 assert_no_new_objects=assert_no_new_objects,
                                 assert_gone=assert_gone, owned_ids=owned_ids,
                                 created_since=created_since,
                                 in_mount_namespace=in_mount_namespace,
                                 memory_cgroup=memory_cgroup, child_traced=child_traced)


def _exporter_url(proc, timeout: float = 20) -> str:
    """``http://host:port`` from a started ``bpfscope --serve``'s
    'Serving metrics' line on stderr; kills it and fails when the line
    does not come."""
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        line = _readline(proc.stderr, deadline)
        seen += line
        m = re.match(r"Serving metrics of \d+ scripts? at (http://\S+)/metrics\n", line)
        if m:
            return m.group(1)
        if not line:
            break
    proc.kill()
    raise AssertionError(f"the exporter did not start: {seen}")


@pytest.fixture(scope="session")
def exporter_url():
    """The exporter tests' reader of the URL a ``--serve`` announces."""
    return _exporter_url


def _debian_tool(command: str, package: str) -> str:
    """The path of ``command``, installed from Debian's ``package`` with
    apt-get (no recommends) when missing; skips the test saying why when
    it cannot be."""
    path = shutil.which(command)
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{command} is not installed and apt-get cannot install {package} here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    r = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:  # an old package list: once more after an update
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=900)
        r = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    path = shutil.which(command)
    if not path:
        pytest.skip(f"Debian's {package} package could not be installed: "
                    f"{(r.stderr or r.stdout).strip()[-300:]}")
    return path


@pytest.fixture(scope="session")
def debian_tool():
    """``debian_tool(command, package)``: see :func:`_debian_tool`."""
    return _debian_tool
