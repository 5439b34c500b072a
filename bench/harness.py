"""Running one tracer process and measuring it.

A ``TracerRun`` launches bpfscope or bpftrace on a script, reads its stdout
and stderr in background threads (timestamping the attach message), lists
the BPF programs it holds (from /proc/PID/fdinfo, so other processes'
programs never get mixed in), and reaps it with wait4 to get its peak
resident memory.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from bpfinfo import xlated_insns  # noqa: F401  (re-exported for suites)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The attach message of each tool: bpfscope prints "Attached N probes" to
# stderr once everything is attached; bpftrace 0.17 prints
# "Attaching N probes..." to stdout just *before* it attaches.
ATTACH_RE = {
    "bpfscope": (re.compile(rb"Attached \d+ probes?"), "err"),
    "bpftrace": (re.compile(rb"Attaching \d+ probes?\.\.\."), "out"),
}
LOST_RE = re.compile(rb"Lost (\d+) events")


# The bpfscope command measured: what a user runs, the package installed
# with `pip install` into a virtual environment of the bench's own (so its
# modules are byte-compiled and nothing is found through the source tree).
# install_bpfscope() sets it; until then the `bpfscope` on PATH.
BPFSCOPE_EXE: str | None = None


def install_bpfscope(src: str, build_dir: str) -> str:
    """pip install SRC (a directory with pyproject.toml) into a fresh venv
    under build_dir; returns its bpfscope command."""
    venv = os.path.join(build_dir, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                    "--disable-pip-version-check", src], check=True)
    exe = os.path.join(venv, "bin", "bpfscope")
    # the first run writes no cache a later one would find: pip compiled
    # the modules, and the BTF cache is warmed here, once, not in round 1
    subprocess.run([exe, "--dry-run", "-e", "BEGIN { exit() }"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return exe


def tool_command(tool: str) -> list[str]:
    if tool == "bpftrace":
        return [shutil.which("bpftrace") or "bpftrace"]
    return [BPFSCOPE_EXE or shutil.which("bpfscope") or "bpfscope"]


def tool_env(tool: str, map_keys: int | None = None,
             max_probes: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tool == "bpftrace":
        if map_keys:
            env["BPFTRACE_MAP_KEYS_MAX"] = str(map_keys)
        if max_probes:
            env["BPFTRACE_MAX_PROBES"] = str(max_probes)
            env["BPFTRACE_MAX_BPF_PROGS"] = str(max_probes)
    elif max_probes:
        env["BPFTRACE_MAX_PROBES"] = str(max_probes)
    return env


def adapt_script(tool: str, script: str, map_keys: int | None = None) -> str:
    """bpftrace 0.17 has no config blocks: its map size comes from the
    environment (see tool_env); bpfscope gets a config block instead."""
    if tool == "bpfscope" and map_keys:
        return f"config = {{ max_map_keys = {map_keys} }}\n" + script
    return script


@dataclass
class Stream:
    data: bytearray = field(default_factory=bytearray)
    keep: bool = True          # keep everything (else only count markers)
    marker: bytes | None = None
    markers: int = 0
    nbytes: int = 0
    newlines: int = 0
    eof_at: float | None = None
    tail: bytes = b""          # the last 64 KiB, whatever ``keep`` says
    _carry: bytes = b""


@dataclass
class ProgStat:
    id: int
    type: int
    run_time_ns: int
    run_cnt: int
    verified_insns: int
    xlated_insns: int | None = None


def fdinfo_progs(pid: int) -> dict[int, ProgStat]:
    """Programs held open by process ``pid`` (prog fds, not link fds)."""
    progs: dict[int, ProgStat] = {}
    d = f"/proc/{pid}/fdinfo"
    try:
        names = os.listdir(d)
    except OSError:
        return progs
    for name in names:
        try:
            with open(f"{d}/{name}") as f:
                text = f.read()
        except OSError:
            continue
        if "prog_type:" not in text:
            continue
        kv = {}
        for line in text.splitlines():
            k, _, v = line.partition(":")
            kv[k.strip()] = v.strip()
        pid_ = int(kv["prog_id"])
        progs[pid_] = ProgStat(id=pid_, type=int(kv["prog_type"]),
                               run_time_ns=int(kv.get("run_time_ns", 0)),
                               run_cnt=int(kv.get("run_cnt", 0)),
                               verified_insns=int(kv.get("verified_insns", 0)))
    return progs


def _default_sigint() -> None:
    # A shell that starts us in the background ignores SIGINT, and an
    # ignored signal stays ignored across exec: give the tracer the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class TracerRun:
    def __init__(self, tool: str, script: str, *, args: list[str] = (),
                 env: dict[str, str] | None = None, keep_stdout: bool = True,
                 stdout_marker: bytes | None = None):
        self.tool = tool
        self.script = script
        self.cmd = tool_command(tool) + list(args) + ["-e", script]
        self.env = env or tool_env(tool)
        self.out = Stream(keep=keep_stdout, marker=stdout_marker)
        self.err = Stream()
        self.attach_at: float | None = None
        self.attached = threading.Event()
        self.t0 = 0.0
        self.end_at: float | None = None
        self.rusage = None
        self.status: int | None = None
        self.proc: subprocess.Popen | None = None

    # -- launch and read -------------------------------------------------
    def start(self) -> "TracerRun":
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     env=self.env, cwd="/tmp",
                                     preexec_fn=_default_sigint)
        self._threads = [
            threading.Thread(target=self._reader, args=(self.proc.stdout, self.out, "out"), daemon=True),
            threading.Thread(target=self._reader, args=(self.proc.stderr, self.err, "err"), daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _reader(self, pipe, st: Stream, which: str) -> None:
        rx, where = ATTACH_RE[self.tool]
        fd = pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                st.eof_at = time.monotonic()
                if where == which:
                    self.attached.set()  # never attached: do not wait forever
                return
            st.nbytes += len(chunk)
            st.newlines += chunk.count(b"\n")
            if st.marker:
                buf = st._carry + chunk
                st.markers += buf.count(st.marker)
                st._carry = buf[-(len(st.marker) - 1):] if len(st.marker) > 1 else b""
                # the marker cannot straddle what was already counted twice:
                # _carry is shorter than the marker.
            if st.keep or len(st.data) < 65536:
                st.data += chunk
            st.tail = (st.tail + chunk)[-65536:]
            if where == which and self.attach_at is None and rx.search(bytes(st.data[:4096])):
                self.attach_at = time.monotonic()
                self.attached.set()

    def wait_attached(self, timeout: float = 60.0) -> bool:
        self.attached.wait(timeout)
        return self.attach_at is not None

    # -- observe ---------------------------------------------------------
    def progs(self) -> dict[int, ProgStat]:
        return fdinfo_progs(self.proc.pid)

    def alive(self) -> bool:
        if self.status is not None:
            return False
        try:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def _reaped(self, status, ru) -> None:
        self.end_at = time.monotonic()
        self.status = os.waitstatus_to_exitcode(status)
        self.rusage = ru
        self.proc.returncode = self.status

    # -- stop and reap ---------------------------------------------------
    def interrupt(self) -> float:
        t = time.monotonic()
        if self.status is None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        return t

    def wait(self, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self._reaped(status, ru)
                break
            if time.monotonic() > deadline:
                os.kill(self.proc.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(self.proc.pid, 0)
                self._reaped(status, ru)
                self.status = -9
                break
            time.sleep(0.001)
        for t in self._threads:
            t.join(5)
        return self.status

    # -- results ---------------------------------------------------------
    @property
    def maxrss_mb(self) -> float | None:
        return self.rusage.ru_maxrss / 1024 if self.rusage else None

    @property
    def cpu_s(self) -> float | None:
        """user + system CPU time of the tracer, launch to exit."""
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def since_start(self, t: float | None) -> float | None:
        return None if t is None else t - self.t0

    def lost(self) -> int:
        text = self.out.tail + bytes(self.err.data)
        return sum(int(m) for m in LOST_RE.findall(text))

    def stderr_text(self) -> str:
        return self.err.data.decode(errors="replace")


class SyscallPoker:
    """Calls getppid (or ``call``) every ``period`` seconds from this process
    until stopped, so a probe filtered on our pid fires as soon as it is
    attached."""

    def __init__(self, period: float = 0.001, call=os.getppid):
        self.period, self.call = period, call
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.call()
            time.sleep(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def build_workload(build_dir: str) -> str:
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.c")
    os.makedirs(build_dir, exist_ok=True)
    exe = os.path.join(build_dir, "bpfbench_wl")
    subprocess.run(["gcc", "-O2", "-Wall", "-fno-omit-frame-pointer", "-o", exe, src], check=True)
    return exe


def build_workload_nofp(build_dir: str) -> str:
    """The same workload built -O2 -fomit-frame-pointer (as distributions
    build): frame-pointer stack walks stop early in it."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.c")
    os.makedirs(build_dir, exist_ok=True)
    exe = os.path.join(build_dir, "bpfbench_nofp")
    subprocess.run(["gcc", "-O2", "-Wall", "-fomit-frame-pointer", "-o", exe, src], check=True)
    return exe


def build_many(build_dir: str, n: int) -> str:
    """A program with n functions bm_f0000.. (distinct bodies, not inlined)
    that sleeps until its stdin closes: the target of the attach suite."""
    src = os.path.join(build_dir, "many.c")
    with open(src, "w") as f:
        f.write("#include <unistd.h>\n")
        for i in range(n):
            f.write(f"__attribute__((noinline)) int bm_f{i:04d}(int x) {{ return x * {i + 3} + {i}; }}\n")
        f.write("int (*volatile keep[])(int) = {" + ", ".join(f"bm_f{i:04d}" for i in range(n)) + "};\n")
        f.write("int main(void) { char c; while (read(0, &c, 1) > 0) keep[c %% %d](c); return 0; }\n" % n)
    exe = os.path.join(build_dir, "many")
    subprocess.run(["gcc", "-O1", "-o", exe, src], check=True)
    return exe


def run_workload(exe: str, *args) -> float:
    """Run the workload to completion; its own reported duration."""
    r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=True)
    m = re.search(r"in ([\d.]+) seconds", r.stdout)
    return float(m.group(1)) if m else float("nan")


def run_workload_cpu(exe: str, *args) -> tuple[float, float]:
    """Run the workload to completion: its own reported duration, and the
    user+sys CPU time of it and every child it waited for (wait4 rusage)."""
    p = subprocess.Popen([exe, *map(str, args)], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"workload exited {p.returncode}")
    m = re.search(r"in ([\d.]+) seconds", out)
    return (float(m.group(1)) if m else float("nan")), ru.ru_utime + ru.ru_stime
