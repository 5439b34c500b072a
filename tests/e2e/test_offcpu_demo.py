"""The classic off-CPU demo: a server that fsyncs on every request spends
a large share of its blocked time under the fsync path; without the fsync
it spends next to none. Traced with the shipped offcputime tool, read from
its folded stacks.

The rest of the server's blocked time is waiting for the next request, so
the fsync share depends on how fast the client loop runs: 66 % on a quiet
machine, 50 % with both cores busy. The test asks for a share far above
the no-fsync run's, not for a majority."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SERVER = Path(__file__).parent / "progs" / "fsync_server.py"
REQUESTS = 150


def blocked_fraction_under_fsync(e2e, tmp_path, fsync: bool) -> tuple[float, int]:
    data = tmp_path / "data.bin"  # on the real disk: fsync must do I/O
    args = [sys.executable, str(SERVER), str(data)] + ([] if fsync else ["--no-fsync"])
    srv = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, pid = map(int, srv.stdout.readline().split())
        folded = tmp_path / "offcpu.folded"
        trace = e2e.Trace("--folded", str(folded), "offcputime", str(pid))
        srv.stdin.write("go\n")
        srv.stdin.flush()
        for _ in range(REQUESTS):  # a local load loop, one request at a time
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                assert r.read() == b"ok\n"
        trace.proc.send_signal(signal.SIGINT)
        trace.finish(timeout=30)
    finally:
        srv.kill()
        srv.wait()
    total = under = 0
    for line in folded.read_text().splitlines():
        frames, n = line.rsplit(" ", 1)
        total += int(n)
        if "fsync" in frames:
            under += int(n)
    return (under / total if total else 0.0), total


def test_fsync_dominates_blocked_time_only_when_the_server_fsyncs(e2e, tmp_path):
    with_fsync, total = blocked_fraction_under_fsync(e2e, tmp_path, True)
    assert total > 0
    assert with_fsync > 0.3, f"{with_fsync:.0%} of blocked time under fsync"
    print(f"with fsync: {with_fsync:.0%} of {total} us blocked under fsync")
    without, total = blocked_fraction_under_fsync(e2e, tmp_path, False)
    assert total > 0
    assert without < 0.05, f"{without:.0%} of blocked time under fsync without fsync"
