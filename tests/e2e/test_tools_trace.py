"""bcc's trace and argdist as bpfscope commands, on calls that
tests/e2e/progs/argwork.c makes: user functions (uprobes and uretprobes),
the openat tracepoint and a USDT probe. Kernel functions need kprobes,
which this machine may lack: that test skips saying so."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SDT = any(os.path.exists(p) for p in ("/usr/include/sys/sdt.h",
                                      "/usr/include/x86_64-linux-gnu/sys/sdt.h"))
MISSING = "/nonexistent/bpfscope-trace-test"


@pytest.fixture(scope="session")
def argwork(build_prog) -> str:
    sdt = ["-DHAVE_SDT"] if SDT else []
    return build_prog("argwork.c", "-g", "-fno-omit-frame-pointer", *sdt)


@pytest.fixture
def work(e2e, argwork):
    """``work(STEP...)``: argwork waiting for go (e2e.Waiting), killed at
    the test's end if it is still there."""
    with contextlib.ExitStack() as started:
        def start(*steps: str):
            w = e2e.Waiting(argwork, *steps)
            started.callback(w.kill)
            return w
        yield start


def traced(e2e, w, *args: str) -> tuple[str, str, int]:
    """Run a tool on waiting argwork ``w`` (PID in args is its pid) until
    it ends (with the process, or by itself)."""
    t = e2e.Trace(*[a.replace("PID", str(w.pid)) for a in args])
    assert w.go() == 0
    out, err = t.finish(timeout=30)
    assert "Traceback" not in err, err
    return out, err, t.returncode


def rows(out: str) -> list[list[str]]:
    """trace's lines after the header, split in PID, TID, COMM, FUNC, message."""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["PID", "TID", "COMM", "FUNC"], out
    return [l.split(None, 4) for l in lines[1:] if l.strip() and not l.startswith(" ")]


# ------------------------------------------------------------------ trace

def test_trace_signature_predicate_string_and_return(e2e, work, argwork, no_leaks):
    w = work("open", "3", MISSING)
    out, err, rc = traced(e2e, w, "trace", "-p", "PID",
                          f'{argwork}:aw_open(char *path, int flags) (flags > 0) '
                          f'"open %s %d", path, flags',
                          f'r:{argwork}:aw_open (retval < 0) "failed %d", retval')
    assert rc == 0, err
    assert out.splitlines()[0] == "PID     TID     COMM            FUNC             -"
    got = rows(out)
    pid = str(w.pid)
    assert all(r[:4] == [pid, pid, "argwork", "aw_open"] for r in got), out
    assert [r[4] for r in got] == ["failed -1", f"open {MISSING} 1", "failed -1",
                                   f"open {MISSING} 2", "failed -1"], out
    line = out.splitlines()[1]                 # bcc's columns: %-7d %-7d %-15s %-16s
    assert line == f"{pid:<7} {pid:<7} {'argwork':<15} {'aw_open':<16} failed -1"


def test_trace_tracepoint_with_timestamps(e2e, work):
    w = work("open", "2", MISSING)
    out, err, rc = traced(e2e, w, "trace", "-t", "-p", "PID",
                          't:syscalls:sys_enter_openat "%s", args->filename')
    assert rc == 0, err
    lines = [l for l in out.splitlines()[1:] if MISSING in l]
    assert out.splitlines()[0].split() == ["TIME", "PID", "TID", "COMM", "FUNC", "-"]
    assert len(lines) == 2, out
    for l in lines:
        stamp, pid, tid, comm, func, msg = l.split()
        assert float(stamp) >= 0 and pid == tid == str(w.pid) and comm == "argwork"
        assert func == "sys_enter_openat" and msg == MISSING


def test_trace_max_events_ends_the_trace(e2e, work, argwork, no_leaks):
    w = work("size", "5", "16")
    out, err, rc = traced(e2e, w, "trace", "-M", "2", "-T",
                          f'{argwork}:aw_size "n=%lu", arg1')
    assert rc == 0, err
    msgs = [l.split()[-1] for l in out.splitlines()[1:] if l.strip()]
    assert msgs == ["n=16", "n=32"], out
    assert re.match(r"\d\d:\d\d:\d\d ", out.splitlines()[1]), out


def test_trace_name_and_message_filters_and_user_stacks(e2e, work, argwork):
    w = work("size", "4", "8", "sleep", "500")
    out, err, rc = traced(e2e, w, "trace", "-p", "PID", "-n", "argw", "-f", "=24", "-U",
                          f'{argwork}:aw_size "n=%lu", arg1')
    assert rc == 0, err
    lines = out.splitlines()
    assert [l for l in lines[1:] if l and not l.startswith(" ")][0].endswith(" n=24"), out
    assert sum(1 for l in lines if l.endswith("n=24")) == 1 and "n=8" not in out, out
    frames = [l.strip() for l in lines if l.startswith("        ")]
    # at the entry main's frame is not pushed yet: frame pointers skip it
    assert len(frames) >= 2 and frames[0].startswith("aw_size+0"), out
    out, err, rc = traced(e2e, work("size", "2", "8"), "trace", "-p", "PID", "-n", "bash",
                          f'{argwork}:aw_size "n=%lu", arg1')
    assert rc == 0 and rows(out) == [], out


@pytest.mark.skipif(not SDT, reason="no sys/sdt.h here to build argwork's USDT probe")
def test_trace_usdt_and_u_of_a_function(e2e, work, argwork):
    w = work("tick", "3", "size", "1", "5")
    out, err, rc = traced(e2e, w, "trace", "-p", "PID", f'u:{argwork}:tick "tick %d", arg1',
                          f'u:{argwork}:aw_size "size %d", arg1')
    assert rc == 0, err
    assert [(r[3], r[4]) for r in rows(out)] == [("tick", "tick 1"), ("tick", "tick 2"),
                                                 ("tick", "tick 3"), ("aw_size", "size 5")], out


def test_trace_json(e2e, work, argwork):
    w = work("size", "2", "3")
    t = e2e.Trace("trace", "-j", "-p", str(w.pid), f'{argwork}:aw_size "%d", arg1',
                  wait_attached=False)        # JSON says it attached on stdout
    first = t.proc.stdout.readline().decode()
    assert json.loads(first)["type"] == "attached_probes", first
    assert w.go() == 0
    out, err = t.finish(timeout=30)
    data = [json.loads(l)["data"] for l in out.splitlines() if '"type": "t0"' in l]
    assert t.returncode == 0 and [d["v0"] for d in data] == [3, 6], (out, err)
    assert data[0]["pid"] == data[0]["tid"] == w.pid and data[0]["comm"] == "argwork"


def test_trace_ends_cleanly_on_ctrl_c(e2e, argwork, no_leaks):
    t = e2e.Trace("trace", f"{argwork}:aw_size", "t:syscalls:sys_enter_getppid")
    time.sleep(0.3)
    t.proc.send_signal(signal.SIGINT)
    out, err = t.finish(timeout=30)
    assert t.returncode == 0 and "Traceback" not in err and "ERROR" not in err, err
    assert out.startswith("PID     TID     COMM            FUNC             \n"), out


def test_trace_bad_specifiers(e2e, argwork):
    r = e2e.run_cli("trace", f'{argwork}:aw_size (arg1 > "%d", arg1')
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unmatched end of predicate" in r.stderr and "    ~~~" in r.stderr, r.stderr
    r = e2e.run_cli("trace", f"{argwork}:no_such_function")
    assert r.returncode == 1 and f"no function no_such_function in {argwork}" in r.stderr
    spec = f'{argwork}:aw_size "%d", 1 + nosuch'      # the compiler's error, at the spec
    r = e2e.run_cli("trace", spec)
    assert r.returncode == 1, r
    assert r.stderr.splitlines()[-3:] == [
        f"ERROR: trace: error in probe '{spec}': Unknown identifier: 'nosuch'",
        f"    {spec}", "    " + " " * spec.index("nosuch") + "~~~~~~"], r.stderr
    assert "Traceback" not in r.stderr


def test_trace_kernel_functions(e2e):
    r = e2e.run_cli("trace", "-M", "1", 'do_sys_openat2 "%s", arg2', timeout=60)
    if not os.path.exists("/sys/kernel/tracing/kprobe_events"):
        assert r.returncode == 1 and "kprobes are not built into this kernel" in r.stderr, r
        pytest.skip("kernel functions cannot be traced here: no kprobes")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ argdist

def freq(out: str) -> dict[str, int]:
    """The last table of each label: {EVENT: COUNT}, for the last interval."""
    last: dict[str, int] = {}
    for line in out.splitlines():
        if re.fullmatch(r"\[\d\d:\d\d:\d\d\]", line):
            last = {}
        elif m := re.match(r"\t(\d+)\s+(.*)$", line):
            last[m.group(2)] = int(m.group(1))
    return last


def test_argdist_counts_of_arguments_and_returns(e2e, argwork, no_leaks):
    t = e2e.Trace("argdist", "-c", "-i", "1", "-n", "3", "-C",
                  f"p:{argwork}:aw_size(unsigned long n):u64:n:n>16",
                  f"r:{argwork}:aw_size()", f"p:{argwork}:aw_size()#calls")
    assert e2e.run_cli  # the workload runs once the probes are attached
    import subprocess
    subprocess.run([argwork, "size", "3", "16"], check=True)
    out, err = t.finish(timeout=30)
    assert t.returncode == 0 and "Traceback" not in err, err
    assert len(re.findall(r"^\[\d\d:\d\d:\d\d\]$", out, re.M)) == 3, out
    assert freq(out) == {"n = 32": 1, "n = 48": 1, "retval = 32": 1, "retval = 64": 1,
                         "retval = 96": 1, "total calls": 3}, out
    assert "\ncalls\n\tCOUNT      EVENT\n" in out
    assert f"\np:{argwork}:aw_size(unsigned long n):u64:n:n>16\n\tCOUNT      EVENT\n" in out


def test_argdist_histograms_latency_and_tracepoint(e2e, argwork):
    t = e2e.Trace("argdist", "-c", "-i", "1", "-n", "2", "-H",
                  f"p:{argwork}:aw_size(unsigned long n):u64:n",
                  f"r:{argwork}:aw_size(unsigned long n):u64:$latency#latency ns",
                  "-C", "t:syscalls:sys_enter_getppid():u32:$PID")
    import subprocess
    p = subprocess.run([argwork, "size", "4", "100"], check=True)
    assert p.returncode == 0
    out, err = t.finish(timeout=30)
    assert t.returncode == 0, err
    report = out[out.rfind("["):]
    # n = 100, 200, 300, 400: slots 64 -> 127 (1), 128 -> 255 (1), 256 -> 511 (2)
    hist = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^\s+(\d+ -> \d+)\s+: (\d+)", report.split("latency ns")[0], re.M)}
    assert {k: v for k, v in hist.items() if v} == {"64 -> 127": 1, "128 -> 255": 1,
                                                    "256 -> 511": 2}, out
    assert "     n                   : count     distribution\n" in report
    lat = report.split("latency ns")[1]
    assert sum(int(m) for m in re.findall(r": (\d+)\s+\|", lat)) == 4, out


def test_argdist_strings(e2e, argwork):
    t = e2e.Trace("argdist", "-c", "-i", "1", "-n", "2", "-z", "40", "-C",
                  f"p:{argwork}:aw_open(char *path, int flags):char*,int:path,flags")
    import subprocess
    subprocess.run([argwork, "open", "2", MISSING], check=True)
    out, err = t.finish(timeout=30)
    assert t.returncode == 0, err
    assert freq(out) == {f"path = {MISSING}, flags = 0": 1,
                         f"path = {MISSING}, flags = 1": 1}, out


def test_argdist_ends_cleanly_on_ctrl_c_and_bad_input(e2e, argwork, no_leaks):
    t = e2e.Trace("argdist", "-C", f"p:{argwork}:aw_size()")
    time.sleep(0.3)
    t.proc.send_signal(signal.SIGINT)
    out, err = t.finish(timeout=30)
    assert t.returncode == 0 and "Traceback" not in err and "ERROR" not in err, err
    r = e2e.run_cli("argdist", "-H", f"p:{argwork}:aw_size()")
    assert r.returncode == 1 and "histograms must have expr" in r.stderr, r.stderr
    assert f"    p:{argwork}:aw_size()\n    ~" in r.stderr and "Traceback" not in r.stderr


def test_argdist_under_p_ends_with_the_process_and_prints_its_tables(e2e, argwork, work,
                                                                      no_leaks):
    """-i 600: no interval passes before argwork ends; the one report is
    the final one, printed when the trace ends with the process."""
    w = work("size", "3", "16")
    out, err, rc = traced(e2e, w, "argdist", "-p", "PID", "-i", "600", "-C",
                          f"p:{argwork}:aw_size(unsigned long n):u64:n",
                          "-H", f"r:{argwork}:aw_size()")
    assert rc == 0 and "ERROR" not in err, err
    assert len(re.findall(r"^\[\d\d:\d\d:\d\d\]$", out, re.M)) == 1, out
    assert freq(out) == {"n = 16": 1, "n = 32": 1, "n = 48": 1}, out
    # retvals 32, 64, 96: slots 32 -> 63 (1), 64 -> 127 (2)
    hist = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^\s+(\d+ -> \d+)\s+: (\d+)", out, re.M) if int(m.group(2))}
    assert hist == {"32 -> 63": 1, "64 -> 127": 2}, out


def test_trace_stack_addresses_with_a(e2e, work, argwork):
    """-a: each frame is its address then its symbol; the address of
    aw_size's frame lies in argwork's aw_size."""
    from bpfscope.elf import SymbolTable
    w = work("size", "1", "8", "sleep", "500")     # alive while its stack is resolved
    with open(f"/proc/{w.pid}/maps") as f:
        base = min(int(l.split("-")[0], 16) for l in f if l.rstrip().endswith(argwork))
    out, err, rc = traced(e2e, w, "trace", "-p", "PID", "-U", "-a",
                          f'{argwork}:aw_size "n=%lu", arg1')
    assert rc == 0, err
    frames = [l[8:].split(None, 1) for l in out.splitlines() if l.startswith("        ")]
    assert len(frames) >= 2 and all(re.fullmatch(r"[0-9a-f]+", a) for a, _ in frames), out
    addr, sym = frames[0]
    assert sym.startswith("aw_size+0"), out
    s = SymbolTable(argwork).lookup_one("aw_size")
    with open(argwork, "rb") as f:
        pie = f.read(18)[16] == 3           # ET_DYN: linked at 0, loaded at base
    at = int(addr, 16) - (base if pie else 0)
    assert s.value <= at < s.value + s.size, (out, hex(base), s)


# three writes to /dev/null once told: AB NUL CD, AB NUL XY!, ABCD
BYTES = """
import os, sys
sys.stdin.read(1)
fd = os.open("/dev/null", os.O_WRONLY)
for data in (b"AB\\0CD", b"AB\\0XY!", b"ABCD"):
    os.write(fd, data)
"""


def test_trace_bin_cmp_compares_the_bytes_past_a_nul(e2e, no_leaks):
    def writes(*args: str) -> list[str]:
        out, _ = e2e.child_traced(BYTES, [], "trace", *args)
        return [r[4] for r in rows(out)]
    probe = 't:syscalls:sys_enter_write (STRCMP({}, args->buf)) "%d", args->count'
    # the string compare stops at the NUL: both writes that start AB NUL
    assert writes(probe.format('"AB"')) == ["5", "6"]
    assert writes("-B", probe.format('"{0x41, 0x42, 0, 0x43, 0x44}"')) == ["5"]
    assert writes("-B", probe.format('"AB\\0X"')) == ["6"]


def test_trace_symbol_files_name_a_stripped_programs_functions(e2e, work, argwork, tmp_path):
    import shutil
    import subprocess
    stripped = str(tmp_path / "argwork")
    shutil.copy(argwork, stripped)
    subprocess.run(["strip", "--strip-all", stripped], check=True)
    probe = f'{stripped}:aw_size "n=%lu", arg1'
    r = e2e.run_cli("trace", probe)
    assert r.returncode == 1 and "no function aw_size" in r.stderr, r
    w = e2e.Waiting(stripped, "size", "2", "8", "sleep", "500")   # alive while its stacks print
    try:
        out, err, rc = traced(e2e, w, "trace", "-p", "PID", "-U", "-s", argwork, probe)
    finally:
        w.kill()
    assert rc == 0, err
    assert [r[4] for r in rows(out)] == ["n=8", "n=16"], out
    frames = [l.strip() for l in out.splitlines() if l.startswith("        ")]
    assert frames and frames[0].startswith("aw_size+0"), out
    r = e2e.run_cli("trace", "-s", "/etc/hostname", probe)
    assert r.returncode == 1 and r.stderr.startswith("ERROR: trace: -s: /etc/hostname"), r


def test_argdist_duration_ends_the_trace_after_its_reports(e2e, argwork, no_leaks):
    import subprocess
    # -d 2 with -i 1: two reports, then the trace ends by itself
    t = e2e.Trace("argdist", "-c", "-d", "2", "-C", f"p:{argwork}:aw_size(unsigned long n):u64:n")
    subprocess.run([argwork, "size", "2", "5"], check=True)
    out, err = t.finish(timeout=30)
    assert t.returncode == 0 and "Traceback" not in err, err
    assert len(re.findall(r"^\[\d\d:\d\d:\d\d\]$", out, re.M)) == 2, out
    assert freq(out) == {"n = 5": 1, "n = 10": 1}, out
