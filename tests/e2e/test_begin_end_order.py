"""BEGIN runs before any other probe is attached and END after every other
probe is detached (bpftrace's documented order), checked against a process
of the test's own that calls getpid() in a tight loop the whole time."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


@pytest.fixture
def busy(helper):
    proc = subprocess.Popen([helper, "getpid", "2000000000"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_begin_sets_maps_and_prints_before_any_event(e2e, busy):
    prog = ('BEGIN { printf("begin\\n"); @start = 1; } '
            'tracepoint:syscalls:sys_enter_getpid /pid == $1/ { '
            '  if (@start == 0) { @bad = count(); } '
            '  @seen = count(); '
            '  if (@first == 0) { @first = 1; printf("event\\n"); } } '
            'interval:ms:300 { exit(); }')
    # the window the old order left (attach, then BEGIN) was hit about
    # two runs in three on this machine: three runs
    for _ in range(3):
        r = e2e.run_cli("-e", prog, str(busy))
        assert r.returncode == 0, r.stderr
        assert r.stderr == "Attached 3 probes\n"
        assert r.stdout.startswith("begin\nevent\n"), r.stdout
        assert "@bad: 0" in r.stdout  # never counted (printed as 0.26 prints an empty map)
        assert re.search(r"^@seen: \d+$", r.stdout, re.M), r.stdout


def test_end_runs_after_every_probe_is_detached(e2e, busy):
    prog = ('tracepoint:syscalls:sys_enter_getpid /pid == $1/ { '
            '  @c = @c + 1; if (@c % 2000 == 0) { printf("ev\\n"); } } '
            'interval:ms:300 { exit(); } '
            'END { printf("end %d\\n", @c); }')
    r = e2e.run_cli("-e", prog, str(busy))
    assert r.returncode == 0, r.stderr
    before, marker, after = r.stdout.partition("end ")
    assert marker, r.stdout
    assert "ev" in before  # events did happen while attached
    assert "ev" not in after
    at_end = int(after.split("\n", 1)[0])
    # the count END saw is the count printed at exit: nothing ran after END
    assert re.search(r"^@c: (\d+)$", after, re.M).group(1) == str(at_end)


def test_records_after_exit_are_dropped(e2e, busy):
    """As bpftrace 0.26 (perf_event_printer returns early once exit() was
    read, finalize_): what probes emit after the exit record, until END
    runs, is not printed; END's output and the maps are. The traced
    process keeps calling getpid, so records follow the exit record."""
    for _ in range(5):
        t = e2e.Trace("-e", 'tracepoint:syscalls:sys_enter_getpid /pid == $1/ { '
                      '@n++; printf("event %d\\n", @n); if (@n == 3) { exit(); } } '
                      'END { printf("end\\n"); }', str(busy))
        out, err = t.finish()
        assert t.returncode == 0, err
        lines = out.split("\n")
        assert lines[:4] == ["event 1", "event 2", "event 3", "end"], out[:300]
        assert "event 4" not in out
        n = int(re.search(r"^@n: (\d+)$", out, re.M).group(1))
        # the probe ran on until detached (its records were dropped), unless
        # a loaded machine kept the busy process off the CPU all that time:
        # then nothing was tested, and the run is repeated
        if n > 3:
            break
    assert n > 3
