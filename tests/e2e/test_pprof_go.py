"""--pprof output read by Go's own pprof (``go tool pprof`` from Debian's
golang-go, installed by .ci/run or by the test when missing; the test
skips saying why where it cannot be): the kernel stacks of the getppid
calls this test makes, with their counts, as pprof reports them."""

from __future__ import annotations

import os
import re
import signal
import subprocess

ME = os.getpid()


def test_go_pprof_reads_the_profile(e2e, kernel, tmp_path, debian_tool):
    go = debian_tool("go", "golang-go")
    pb = tmp_path / "getppid.pb.gz"
    tr = e2e.Trace("-e", f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ "
                   f"{{ @[kstack] = count(); }}", "--pprof", str(pb))
    for _ in range(1000):
        os.getppid()
    tr.proc.send_signal(signal.SIGINT)
    _, err = tr.finish()
    assert tr.returncode == 0 and f"Wrote {pb}" in err, err
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"),
           "HOME": os.environ.get("HOME") or str(tmp_path)}

    def pprof(*args: str) -> str:
        r = subprocess.run([go, "tool", "pprof", "-symbolize=none", *args, str(pb)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout
    top = pprof("-top")
    assert "Showing nodes accounting for 1000, 100% of 1000 total" in top, top
    # every call went through the syscall entry: its cumulative count is all of them
    entry = [line for line in top.splitlines() if line.split()[-1:] == ["do_syscall_64"]]
    assert entry and entry[0].split()[3] == "1000", top
    raw = pprof("-raw")
    assert re.search(r"^\s+1000: [\d ]+$", raw, re.M), raw  # one stack, counted 1000 times
