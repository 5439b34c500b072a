"""System-wide tools on events the test itself causes: biolatency counts
O_DIRECT writes, runqlat a child's wakeups, oomkill the OOM kill of a
child in a small memory cgroup of the test's own; and exitsnoop and
biosnoop under -p end when their process does, having shown what it did."""

from __future__ import annotations

import os
import re
import sys

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def hist_total(out: str, name: str) -> int:
    """The sum of the counts of bpftrace histogram ``name`` in ``out``."""
    at = out.index(f"{name}:\n") + len(name) + 2
    total = 0
    for line in out[at:].splitlines():
        m = re.match(r"\[[^\]]*[\])]\s+(\d+) \|", line)
        if not m:
            break
        total += int(m.group(1))
    return total


def missed(stderr: str) -> int:
    """The events the trace warned it missed."""
    return sum(int(n) for n in re.findall(r"(\d+) events? (?:was|were) missed", stderr))


@pytest.fixture
def disk_file(tmp_path):
    """A path on a real disk (skips where no block device backs it)."""
    target = "/var/tmp" if os.path.isdir("/var/tmp") else str(tmp_path)
    if os.major(os.stat(target).st_dev) == 0:
        pytest.skip(f"{target} is not on a block device")
    path = os.path.join(target, f"bs-sys-{os.getpid()}")
    yield path
    if os.path.exists(path):
        os.unlink(path)


def test_biolatency_counts_each_direct_write(e2e, disk_file, no_leaks):
    cmd = f"dd if=/dev/zero of={disk_file} bs=4k count=48 oflag=direct status=none"
    r = e2e.run_cli("biolatency", "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Tracing block device I/O... Hit Ctrl-C to end.\n"), r.stdout
    # each write is one request, issued and completed while dd ran; a
    # tracepoint program cannot run while another BPF program runs on its
    # CPU (a completion interrupt during the issue's): those it says it missed
    assert hist_total(r.stdout, "@usecs") + missed(r.stderr) >= 48, (r.stdout, r.stderr)


def test_runqlat_counts_the_wakeups_of_a_sleeping_child(e2e, no_leaks):
    code = "import time\nfor _ in range(150): time.sleep(0.002)\n"
    r = e2e.run_cli("runqlat", "-c", f"{sys.executable} -c '{code}'", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Tracing CPU scheduler... Hit Ctrl-C to end.\n"), r.stdout
    # every sleep ends in a wakeup, and the child then waits for a CPU
    assert hist_total(r.stdout, "@usecs") >= 150, r.stdout


# joins the cgroup (argv[1]) under the name bsoom, says its pid, and
# allocates until the OOM killer ends it (256 MiB at most: should the
# limit not hold, it exits 3 and the test fails without starving the machine)
OOM = """
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, b"bsoom")
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
print("pid", os.getpid(), flush=True)
hog = [b"m" * (1 << 20) for _ in range(256)]
sys.exit(3)
"""


def test_oomkill_shows_the_kill_of_a_child_over_its_cgroup_limit(e2e, tmp_path, no_leaks):
    if not os.path.isdir("/sys/kernel/tracing/events/oom/mark_victim"):
        pytest.skip("this kernel has no tracepoint oom:mark_victim")
    script = tmp_path / "oom.py"
    script.write_text(OOM)
    with e2e.memory_cgroup("bpfscope-oomkill", 32 << 20, no_swap=True) as procs:
        r = e2e.run_cli("oomkill", "-c", f"{sys.executable} {script} {procs}", timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Tracing oom_kill_process()... Hit Ctrl-C to end.", r.stdout
    [pid] = [int(l.split()[1]) for l in lines if l.startswith("pid ")]
    kills = [m for m in (re.fullmatch(
        r'\d\d:\d\d:\d\d Triggered by PID (\d+) \("(\S+)"\), OOM kill of PID (\d+) '
        r'\("(\S+)"\), (\d+) pages, loadavg: [\d.]+ [\d.]+ [\d.]+ \d+/\d+ \d+', l)
        for l in lines) if m]
    # the child's own allocation set it off, and it was the one killed
    assert [k.groups()[:4] for k in kills] == [(str(pid), "bsoom", str(pid), "bsoom")], r.stdout
    assert int(kills[0].group(5)) >= (32 << 20) // 4096, r.stdout   # all it had mapped


def test_exitsnoop_p_ends_with_the_process_after_showing_its_exit(e2e, waiting, no_leaks):
    w = waiting("getpid", "3")
    t = e2e.Trace("exitsnoop", "-p", str(w.pid))
    assert w.go() == 0
    out, err = t.finish(timeout=30)        # without a Ctrl-C
    assert t.returncode == 0 and "Traceback" not in err, err
    rows = [l.split() for l in out.splitlines()[1:]]
    assert [(r[0], r[1], r[3], r[5]) for r in rows] == [("bse2e", str(w.pid), str(w.pid), "0")], out


# once told, becomes dd making four 64 KiB O_DIRECT writes (same pid)
DD = """
import os, sys
sys.stdin.read(1)
os.execvp("dd", ["dd", "if=/dev/zero", "of=" + sys.argv[1], "bs=64k", "count=4",
                 "oflag=direct", "conv=fsync", "status=none"])
"""


def test_biosnoop_p_shows_only_that_processs_writes_and_ends_with_it(e2e, disk_file, no_leaks):
    errs = []
    out, pid = e2e.child_traced(DD, [disk_file], "biosnoop", errs=errs)   # ends by itself
    rows = [l.split() for l in out.splitlines()[1:]]
    assert rows and all(r[1:3] == ["dd", str(pid)] for r in rows), out
    # a request whose start, issue or completion was missed (see biolatency's test) is not shown
    writes = [r for r in rows if r[4] == "W" and r[6] == "65536"]
    assert len(writes) + missed(errs[0]) >= 4, (out, errs)
