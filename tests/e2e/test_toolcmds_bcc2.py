"""More of bcc's tools as bpfscope commands (drsnoop, biosnoop -Q,
offcputime's options, sslsniff, tcptop, ...), run on events the tests
cause. A tool that needs kernel functions (kprobes) says so here and
exits 1; its real run is in the VM lane (tests/vm)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

TOOLS = ["drsnoop"]


def interrupted(t, settle: float = 1.0) -> str:
    """Ctrl-C a Trace once what the test caused has been read; its stdout
    (the exit status must be 0; ``t.err`` is then its stderr)."""
    time.sleep(settle)
    t.proc.send_signal(signal.SIGINT)
    out, t.err = t.finish(timeout=30)
    assert t.returncode == 0, t.err
    assert "Traceback" not in t.err, t.err
    return out


@pytest.mark.parametrize("tool", TOOLS)
def test_help_and_bad_options(e2e, tool):
    r = e2e.run_cli(tool, "-h")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: bpfscope {tool} "), r
    assert "\nexamples:\n" in r.stdout and f"    bpfscope {tool}" in r.stdout
    r = e2e.run_cli(tool, "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r
    assert f"ERROR: bpfscope {tool}: unrecognized arguments: --no-such-option" in r.stderr, r
    r = e2e.run_cli(tool, "-p", "zero")
    assert r.returncode == 2 and "'zero' is not a number" in r.stderr, r


# ------------------------------------------------------------------ drsnoop

def test_drsnoop_attaches_and_prints_its_header(e2e, no_leaks):
    """Direct reclaim (global memory pressure) cannot be caused on a shared
    machine: the tool attaches its two tracepoints, prints bcc's header and
    ends on Ctrl-C and after -d."""
    t = e2e.Trace("drsnoop", "-T", "-U")
    out = interrupted(t, 0.3)
    assert out.splitlines()[0].split() == ["TIME(s)", "UID", "COMM", "PID", "LAT(ms)", "PAGES"]
    assert "Attached 2 probes" in t.err, t.err
    r = e2e.run_cli("drsnoop", "-t", "1", "-d", "1", timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["COMM", "TID", "LAT(ms)", "PAGES"], r


def test_drsnoop_verbose_without_the_counters_is_one_error(e2e):
    r = e2e.run_cli("drsnoop", "-v", timeout=60)
    with open("/proc/kallsyms") as f:
        has = any(l.split()[2:3] == ["vm_zone_stat"] for l in f)
    if has:
        pytest.skip("this kernel has vm_zone_stat in kallsyms: -v runs")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert r.stderr.startswith("ERROR: drsnoop: -v needs vm_zone_stat"), r
