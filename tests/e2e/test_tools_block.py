"""The block I/O tools (biosnoop, bitesize, biostacks) see O_DIRECT writes that the
test's child makes to a file on a real disk; writeback sees its sync."""

from __future__ import annotations

import os
import re
import sys

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

# Four 64 KiB writes that bypass the page cache, from a task named bsdio.
WRITES = """
import ctypes, mmap, os, sys
ctypes.CDLL(None).prctl(15, b"bsdio")
buf = mmap.mmap(-1, 65536)
buf.write(b"z" * 65536)
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
for i in range(4):
    os.pwrite(fd, buf, i * 65536)
os.fsync(fd)
os.close(fd)
"""


@pytest.fixture
def writes(tmp_path):
    """The -c command, skipping where no disk backs the test's files."""
    target = "/var/tmp" if os.path.isdir("/var/tmp") else str(tmp_path)
    dev = os.stat(target).st_dev
    if os.major(dev) == 0:
        pytest.skip(f"{target} is not on a block device")
    script = tmp_path / "writes.py"
    script.write_text(WRITES)
    path = os.path.join(target, f"bs-dio-{os.getpid()}")
    yield f"{sys.executable} {script} {path}", dev
    if os.path.exists(path):
        os.unlink(path)


def test_biosnoop_shows_each_write_with_its_disk(e2e, writes):
    cmd, dev = writes
    r = e2e.run_cli("biosnoop", "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:2] == ["TIME(ms)     DISK ID        COMM             PID    LAT(ms)",
                       "             MAJOR MINOR"], out
    rows = [l.split() for l in out[2:] if " bsdio " in l]
    assert len(rows) >= 4, out
    assert all(re.fullmatch(r"\d+", r[0]) and r[5].isdigit() for r in rows), out
    # the partition's disk: the same major number as the file's device
    assert {int(r[1]) for r in rows} == {os.major(dev)}, out


def test_bitesize_has_a_histogram_for_the_writer(e2e, writes):
    cmd, _ = writes
    r = e2e.run_cli("bitesize", "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "Tracing block device I/O... Hit Ctrl-C to end.", out
    assert "I/O size (bytes) histograms by process name:" in r.stdout
    at = out.index("@[bsdio]:")
    buckets = {}
    for l in out[at + 1:]:
        m = re.match(r"\[(\S+), (\S+)\)\s+(\d+) \|", l)
        if not m:
            break
        buckets[m.group(1)] = int(m.group(3))
    assert buckets.get("64K", 0) >= 4, out


def test_writeback_shows_the_sync_of_dirty_pages(e2e, writes, tmp_path):
    _, dev = writes
    script = tmp_path / "dirty.py"
    path = f"/var/tmp/bs-wb-{os.getpid()}"
    script.write_text(f"import os\nwith open({path!r}, 'wb') as f: f.write(b'q' * 1000000)\nos.sync()\n")
    try:
        r = e2e.run_cli("writeback", "-c", f"{sys.executable} {script}", timeout=60)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[1] == "TIME      DEVICE   PAGES    REASON           ms", out
    rows = [l.split() for l in out[2:] if re.match(r"\d\d:\d\d:\d\d  ", l)]
    bdi = f"{os.major(dev)}:{os.minor(dev)}"
    assert any(r[1] == bdi and r[3] == "sync" and re.fullmatch(r"\d+\.\d{3}", r[4]) for r in rows), out


def test_biostacks_has_the_pwrite_stack_of_the_writes(e2e, writes):
    cmd, _ = writes
    r = e2e.run_cli("biostacks", "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Tracing block I/O with init stacks. Hit Ctrl-C to end.\n"), r.stdout
    counts = 0
    for entry in r.stdout.split("@usecs[\n")[1:]:
        stack, _, hist = entry.partition("]:\n")
        if "pwrite64" in stack:  # the child's writes; flushes and journal have other stacks
            counts += sum(int(m.group(1)) for m in re.finditer(r"^\[\S+, \S+\)\s+(\d+) \|", hist, re.M))
    assert counts >= 4, r.stdout
