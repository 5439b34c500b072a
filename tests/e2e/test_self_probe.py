"""self:signal:SIGUSR1 for real: the test signals the tracer, whose probe
runs once per signal; without such a probe SIGUSR1 does nothing."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def test_each_sigusr1_runs_the_probe(e2e, no_leaks):
    t = e2e.Trace("-e", 'self:signal:SIGUSR1 { printf("signal %d %s\\n", @n, probe); @n++; '
                        'if (@n == 2) { exit(); } }')
    os.kill(t.proc.pid, signal.SIGUSR1)
    time.sleep(0.3)
    os.kill(t.proc.pid, signal.SIGUSR1)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert err == "Attached 1 probe\n"
    assert out == ("signal 0 self:signal:SIGUSR1\nsignal 1 self:signal:SIGUSR1\n"
                   "\n\n@n: 2\n"), out


def test_sigusr1_without_a_self_probe_is_ignored(e2e, no_leaks):
    t = e2e.Trace("-e", 'interval:ms:600 { printf("tick\\n"); exit(); }')
    os.kill(t.proc.pid, signal.SIGUSR1)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == "tick\n\n\n"   # the blank lines bpftrace prints at exit


@pytest.mark.parametrize("spec, message", [
    ("self:signal:SIGUSR2", "Invalid signal for a self probe: SIGUSR2 (supported: SIGUSR1)"),
    ("self:timer:SIGUSR1", "Invalid self probe type: timer (signal is the only one)"),
    ("self:signal", "self probe type requires 2 arguments (self:signal:SIGUSR1)"),
])
def test_bad_self_probes(e2e, spec, message):
    r = e2e.run_cli("-e", f"{spec} {{ }}")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0].split("ERROR: ")[1] == message
    assert "Traceback" not in r.stderr
