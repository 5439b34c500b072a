"""The syscall and scheduler tools (naptime, statsnoop, setuids, syncsnoop,
pidpersec, threadsnoop, capable, gethostlatency, cpuwalk, runqlen,
bashreadline, undump, killsnoop, syscount) report the events their own child causes, in
bpftrace's layout."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

HHMMSS = r"\d\d:\d\d:\d\d"


def py(code: str) -> str:
    """A -c command running CODE in this Python (its comm is python3...)."""
    return f"{sys.executable} -c {shlex.quote(code)}"


def tool(e2e, name: str, code: str) -> list[str]:
    r = e2e.run_cli(name, "-c", py(code), timeout=60)  # the machine may be busy
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return r.stdout.splitlines()


def test_naptime_shows_the_requested_nanosleep(e2e):
    code = "import ctypes; ts = (ctypes.c_long * 2)(1, 250000000); ctypes.CDLL(None).syscall(35, ts, None)"
    out = tool(e2e, "naptime", code)
    assert out[:2] == ["Tracing sleeps. Hit Ctrl-C to end.",
                       "TIME     PPID   PCOMM            PID    COMM             SECONDS"], out
    lines = [l for l in out if l.endswith(" 1.250")]
    assert len(lines) == 1 and re.match(HHMMSS + r" \d+ +\S+ +\d+ +python", lines[0]), out


def test_naptime_shows_a_relative_clock_nanosleep_only(e2e):
    # a relative sleep (coreutils' sleep makes these), then one until a time
    # (Python's time.sleep does that): now, so that it does not wait
    code = ("import ctypes, os; print('pid', os.getpid(), flush=True); libc = ctypes.CDLL(None); "
            "ts = (ctypes.c_long * 2)(0, 375000000); "
            "libc.clock_nanosleep(1, 0, ts, None); libc.clock_gettime(1, ts); libc.clock_nanosleep(1, 1, ts, None)")
    out = tool(e2e, "naptime", code)
    # the workload's own lines: other processes of the machine sleep too
    pid = next(l.split()[1] for l in out if l.startswith("pid "))
    lines = [l for l in out[2:] if re.match(HHMMSS + r" \d+ +\S+ +" + pid + " ", l)]
    assert len(lines) == 1 and lines[0].endswith(" 0.375"), out


def test_statsnoop_shows_paths_and_errnos(e2e):
    out = tool(e2e, "statsnoop", "import os; os.path.exists('/bs-no-such-file'); os.stat('/tmp')")
    assert out[1] == "PID    COMM             ERR PATH", out
    missing = [l.split() for l in out if l.endswith(" /bs-no-such-file")]
    assert missing and missing[0][2] == "2", out
    assert any(l.split()[2:] == ["0", "/tmp"] and "python" in l for l in out), out


def test_setuids_shows_each_call_with_its_arguments(e2e):
    code = "import os, ctypes; os.setresuid(-1, 0, -1); os.setuid(0); ctypes.CDLL(None).setfsuid(0)"
    out = tool(e2e, "setuids", code)
    assert out[1] == "TIME     PID    COMM             UID    SYSCALL   ARGS (RET)", out
    calls = [l[9:].split(None, 3)[2:] for l in out[2:] if re.match(HHMMSS + " ", l)]
    assert ["0", "setresuid ruid=-1 euid=0 suid=-1 (0)"] in calls, out
    assert ["0", "setuid    uid=0 (0)"] in calls, out
    assert ["0", "setfsuid  uid=0 (prevuid=0)"] in calls, out


def test_syncsnoop_names_the_sync_calls(e2e, tmp_path):
    f = tmp_path / "f"
    out = tool(e2e, "syncsnoop", f"import os; os.sync(); fd = os.open('{f}', os.O_CREAT | os.O_WRONLY); os.fsync(fd)")
    assert out[1] == "TIME      PID    COMM             EVENT", out
    events = [l.split()[-1] for l in out if "python" in l]
    assert events == ["tracepoint:syscalls:sys_enter_sync", "tracepoint:syscalls:sys_enter_fsync"], out


def test_pidpersec_counts_forks_each_second(e2e):
    code = "import os, time\nfor _ in range(30):\n    if os.fork() == 0: os._exit(0)\n    os.wait()\ntime.sleep(3.2)"
    out = tool(e2e, "pidpersec", code)
    assert out[0] == "Tracing new processes... Hit Ctrl-C to end.", out
    counts = [int(m.group(1)) for l in out if (m := re.match(HHMMSS + r" PIDs/sec: @: (\d+)$", l))]
    # every second has its count, also one without forks (a quiet machine's);
    # 3.2 s for two ticks: on a loaded machine a tick can come late
    seconds = [l for l in out if " PIDs/sec: " in l]
    assert len(seconds) >= 2 and len(counts) == len(seconds) and sum(counts) >= 30, out


def test_threadsnoop_shows_the_thread_start_function(e2e):
    out = tool(e2e, "threadsnoop", "import threading; t = threading.Thread(target=print); t.start(); t.join()")
    assert out[0] == "TIME                PID COMM             FUNC", out
    assert any(re.match(HHMMSS + r"\.\d{6} +\d+ python\S* +\S+", l) for l in out[1:]), out


def test_capable_names_the_capability_checked(e2e, tmp_path):
    f = tmp_path / "owned"
    f.touch()
    # a comm of its own: other python3 processes check capabilities too
    out = tool(e2e, "capable", f"import ctypes, os; ctypes.CDLL(None).prctl(15, b'bscapable'); os.chown('{f}', 1234, 1234)")
    assert out[1] == "TIME      UID    PID    COMM             CAP  NAME                 RET", out
    rows = [l.split()[1:] for l in out if " bscapable " in l]
    assert ["0", str(rows[0][1]), "bscapable", "0", "CAP_CHOWN", "0"] in rows, out


def test_gethostlatency_shows_a_lookup(e2e):
    out = tool(e2e, "gethostlatency", "import ctypes, socket; ctypes.CDLL(None).prctl(15, b'bslookup'); "
               "socket.getaddrinfo('localhost', 80)")
    assert out[1] == "TIME      PID    COMM              LATms HOST", out
    rows = [l.split()[2:] for l in out if " bslookup " in l]
    assert len(rows) == 1 and rows[0][0] == "bslookup" and rows[0][1].isdigit() and rows[0][2] == "localhost", out


def histogram(out: list[str], name: str) -> dict[int, int]:
    """The lhist buckets of map NAME: {bucket's low bound: count}."""
    at = out.index(f"{name}:")
    buckets = {}
    for l in out[at + 1:]:
        m = re.match(r"\[(\d+)(?:, \d+\))?\]?\s+(\d+) \|", l)
        if not m:
            break
        buckets[int(m.group(1))] = int(m.group(2))
    return buckets


BUSY = "import os, time\n{fork}os.sched_setaffinity(0, {{{cpu}}})\nend = time.time() + 1.5\nwhile time.time() < end: pass"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_cpuwalk_sees_a_task_spinning_on_one_cpu(e2e):
    cpu = max(os.sched_getaffinity(0))
    out = tool(e2e, "cpuwalk", BUSY.format(fork="", cpu=cpu))
    assert out[0] == "Sampling CPU at 99hz... Hit Ctrl-C to end.", out
    # 1.5 s at 99 Hz: about 150 samples on that CPU, whatever else runs
    assert histogram(out, "@cpu").get(cpu, 0) >= 100, out


def test_runqlen_sees_tasks_queued_on_one_cpu(e2e):
    cpu = min(os.sched_getaffinity(0))
    # four spinning processes on one CPU: three wait while one runs
    out = tool(e2e, "runqlen", BUSY.format(fork="os.fork(); os.fork()\n", cpu=cpu))
    assert out[0] == "Sampling run queue length at 99 Hertz... Hit Ctrl-C to end.", out
    buckets = histogram(out, "@runqlen")
    # (a machine busy with other work samples fewer: 50 of about 150 when idle)
    assert sum(n for q, n in buckets.items() if q >= 2) >= 20, out


def test_bashreadline_shows_typed_commands(e2e):
    # the interactive bash on a pty that the readline uprobe test drives
    spec = importlib.util.spec_from_file_location("bs_readline", Path(__file__).with_name("test_bash_readline.py"))
    readline_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readline_test)
    Bash, readline_file = readline_test.Bash, readline_test.readline_file
    if readline_file() != os.path.realpath("/bin/bash"):
        pytest.skip("readline is not in /bin/bash here")
    bash = Bash()
    try:
        t = e2e.Trace("bashreadline", "-p", str(bash.proc.pid), timeout=60)
        bash.type("")  # ends the readline call that began before the probe
        bash.wait_for(b"rl> ")
        bash.type("echo bs-typed")
        bash.wait_for(b"bs-typed\r\nrl> ")
        bash.type("exit")
        assert bash.proc.wait(10) == 0
        out, err = t.finish()
    finally:
        bash.close()
    assert t.returncode == 0, err
    lines = out.splitlines()
    assert lines[1] == "TIME      PID    COMMAND", lines
    rows = [l.split(None, 2)[1:] for l in lines[2:] if re.match(HHMMSS + "  ", l)]
    assert [str(bash.proc.pid), "echo bs-typed"] in rows and [str(bash.proc.pid), "exit"] in rows, lines


def test_undump_shows_unix_socket_packets(e2e):
    code = ("import ctypes, socket; ctypes.CDLL(None).prctl(15, b'bsundump'); a, b = socket.socketpair(); "
            "a.send(b'Hello, world\\n'); b.recv(100); "
            "c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM); c.send(b'123abc'); d.recv(10)")
    out = tool(e2e, "undump", code)
    assert out[:2] == ["Dump UNIX socket packages RX. Ctrl-C to end",
                       "TIME     COMM             PID      SIZE     DATA"], out
    rows = [l.split(None, 4)[1:] for l in out if " bsundump " in l]
    assert [[r[0], r[2], r[3]] for r in rows] == [["bsundump", "13", "Hello, world\\x0a"],
                                                 ["bsundump", "6", "123abc"]], out


# kill(2) on itself with signal 0 (succeeds) and SIGTERM on a pid that is
# free (no such process: -ESRCH), from a task named bskill
KILLS = """
import ctypes, os
ctypes.CDLL(None).prctl(15, b"bskill")
os.kill(os.getpid(), 0)
free = int(open("/proc/sys/kernel/pid_max").read()) - 1
while os.path.exists(f"/proc/{free}"):
    free -= 1
open(FREE_FILE, "w").write(str(free))
try:
    os.kill(free, 15)
except ProcessLookupError:
    pass
"""


def test_killsnoop_shows_signal_target_and_result(e2e, tmp_path):
    # the child names the free pid in a file: printed on the tracer's
    # stdout, it could land inside one of the tracer's own lines
    path = tmp_path / "free"
    out = tool(e2e, "killsnoop", f"FREE_FILE = {str(path)!r}\n" + KILLS)
    assert out[0].split() == ["PID", "COMM", "SIG", "TPID", "RESULT"], out
    mine = [l.split() for l in out if l.split()[1:2] == ["bskill"]]
    free = path.read_text()
    pid = mine[0][0] if mine else None
    assert [m[2:] for m in mine] == [["0", pid, "0"], ["15", free, "-3"]], out


# twenty thousand getppid() calls from a task named bssyscnt
SYSCALLS = """
import ctypes, os
ctypes.CDLL(None).prctl(15, b"bssyscnt")
for _ in range(20000):
    os.getppid()
"""


def test_syscount_counts_the_childs_calls(e2e):
    out = tool(e2e, "syscount", SYSCALLS)
    assert "Counting syscalls... Hit Ctrl-C to end." in out, out
    procs = out[out.index("Top 10 processes:"):]
    counts = {m.group(1): int(m.group(2)) for l in procs
              if (m := re.fullmatch(r"@process\[(.*)\]: (\d+)", l))}
    assert counts.get("bssyscnt", 0) >= 20000, out
    ids = out[out.index("Top 10 syscall IDs:"):out.index("Top 10 processes:")]
    assert any(int(l.rsplit(" ", 1)[1]) >= 20000 for l in ids if l.startswith("@syscall[")), out
