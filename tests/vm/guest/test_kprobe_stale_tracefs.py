"""Issue 17 point 7 on a real kernel: a kprobe bpfscope creates through
tracefs kprobe_events (group bpfscope_PID) outlives a SIGKILLed tracer; the
next bpfscope that attaches a kprobe removes it, saying so in one line,
and leaves the events of a tracer that is still running alone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.vmlane

ROOT = Path(__file__).resolve().parents[3]
EVENTS = Path("/sys/kernel/tracing/kprobe_events")
ENV = dict(os.environ, BPFSCOPE_KPROBE_ATTACH="tracefs")


def _groups() -> set[str]:
    return set(re.findall(r"^[pr]\d*:(bpfscope_\d+)/", EVENTS.read_text(), re.M))


def _start(script: str) -> tuple[subprocess.Popen, str]:
    """A tracer in the background, once attached, and its stderr so far."""
    proc = subprocess.Popen([sys.executable, "-m", "bpfscope.cli", "-e", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=ENV)
    head = ""
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        head += line
        if line.startswith("Attached") or time.monotonic() > deadline:
            break
    if "Attached" not in head:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the tracer did not attach: {head}")
    return proc, head


def _append(line: str) -> None:
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND)  # tracefs refuses a seek
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def test_killed_tracers_kprobe_is_swept_and_a_live_ones_stays():
    if not EVENTS.exists():
        pytest.skip("no tracefs kprobe_events on this kernel")
    before = _groups()
    # a live tracer's event, as bpfscope names them: group bpfscope_PID of
    # a running process (a sleep stands in for that tracer: the sweep goes
    # by the pid alone, and one Python start less keeps the lane fast)
    live = subprocess.Popen(["sleep", "600"])
    live_event = f"bpfscope_{live.pid}/p_vfs_write_1"
    _append(f"p:{live_event} vfs_write")
    killed = None
    try:
        killed, _ = _start("kprobe:vfs_read { @ = count(); }")
        killed_group = f"bpfscope_{killed.pid}"
        assert killed_group in _groups()
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
        # the tracer is gone, its tracefs event is not
        assert not Path(f"/proc/{killed.pid}").exists()
        event = re.search(rf"^[pr]\d*:({killed_group}/\S+)", EVENTS.read_text(),
                          re.M).group(1)

        # the next bpfscope removes it at its first kprobe attach, in one
        # line naming it, and leaves the live one's alone
        r = subprocess.run([sys.executable, "-m", "bpfscope.cli", "-e",
                            "kprobe:vfs_read { exit(); }"], capture_output=True,
                           text=True, cwd=ROOT, env=ENV, timeout=120)
        assert r.returncode == 0, r.stderr
        assert [ln for ln in r.stderr.splitlines() if "stale" in ln] == [
            f"Removed 1 stale tracefs probe event left by killed bpfscope runs: "
            f"{event}"], r.stderr
        groups = _groups()
        assert killed_group not in groups
        assert f"bpfscope_{live.pid}" in groups
    finally:
        if killed is not None and killed.poll() is None:
            killed.kill()
            killed.communicate()
        _append(f"-:{live_event}")
        live.kill()
        live.wait()
    # and the run that swept removed its own events on the way out
    assert _groups() - before == set(), EVENTS.read_text()
