"""--pprof output read by Go's own pprof (``go tool pprof`` from Debian's
golang-go, installed by .ci/run or by the test when missing; the test
skips saying why where it cannot be): the kernel stacks of the getppid
calls this test makes, with their counts, as pprof reports them; and a
user stack's source lines and inlined frames."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

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


def test_go_pprof_reads_source_lines_and_inlined_frames(e2e, kernel, tmp_path, debian_tool):
    """A user stack with show_debug_info through inlined code
    (tests/elf/progs/inlstack.c): pprof names the inlined functions
    '(inline)' and gives every function its file and line."""
    go = debian_tool("go", "golang-go")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test program")
    src = Path(__file__).parent.parent / "elf" / "progs" / "inlstack.c"
    prog = str(tmp_path / "inlstack")
    subprocess.run([gcc, "-O1", "-g", "-fno-omit-frame-pointer", "-o", prog, str(src)],
                   check=True, capture_output=True)
    pb = tmp_path / "inl.pb.gz"
    r = e2e.run_cli("-q", "--pprof", str(pb), "-e",
                    f"uprobe:{prog}:leaf {{ @[ustack(2)] = count(); }}", "-c", f"{prog} 5")
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"),
           "HOME": os.environ.get("HOME") or str(tmp_path)}
    out = subprocess.run([go, "tool", "pprof", "-symbolize=none", "-lines", "-top", str(pb)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Showing nodes accounting for 5, 100% of 5 total" in text, text
    lines = {ln.split()[5]: ln.split(None, 6)[6] for ln in text.splitlines()
             if re.match(r"^\s+\d+\s+[\d.]+%", ln)}
    for n, marker in enumerate(src.read_text().splitlines(), 1):
        if "MYCLOCK_CALL" in marker:
            assert lines["myclock"] == f"{src}:{n} (inline)", text
        if "OUTER_CALL" in marker:
            assert lines["outer"] == f"{src}:{n} (inline)", text
        if "MAIN_CALL" in marker:
            assert lines["main"] == f"{src}:{n}", text
