"""The guest's smoke set: the lane really is in the lane's kernel, bpfscope
runs there, and the probe types the host lacks are offered by the kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guestlib import SMALL_HASH_KEYS, assert_key_too_big

pytestmark = pytest.mark.vmlane

TRACING = Path("/sys/kernel/tracing")


def test_running_in_the_lane_kernel():
    assert os.uname().release == os.environ["BPFSCOPE_VMLANE_GUEST"]
    assert os.geteuid() == 0


def test_begin_printf(cli):
    r = cli("-e", 'BEGIN { printf("hi\\n"); exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n\n\n"
    assert r.stderr == "Attached 1 probe\n"


def test_tracepoint_sees_child_openat(cli):
    prog = ('tracepoint:syscalls:sys_enter_openat /comm == "cat"/ '
            '{ @[str(args.filename)] = count(); }')
    r = cli("-c", "/bin/cat /etc/hostname", "-e", prog)
    if SMALL_HASH_KEYS:     # 1024-byte str() keys: refused, clearly; 64 fit
        assert_key_too_big(r)
        r = cli("-c", "/bin/cat /etc/hostname", "-e", prog.replace("(args.filename)", "(args.filename, 64)"))
    assert r.returncode == 0, r.stderr
    assert "@[/etc/hostname]: 1\n" in r.stdout, r.stdout


def append(path: Path, text: str) -> None:
    """Append to a tracefs control file (open(path, "a") seeks, which tracefs refuses)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_kprobes_available():
    """kprobe_events exists, the perf kprobe PMU is there (the attach path
    bpfscope's kprobe provider will use), and the kernel accepts a kprobe."""
    events = TRACING / "kprobe_events"
    assert events.exists()
    assert int(Path("/sys/bus/event_source/devices/kprobe/type").read_text()) > 0
    append(events, "p:vmlane/vfs_read vfs_read\n")
    try:
        assert (TRACING / "events/vmlane/vfs_read").is_dir()
        assert "vmlane/vfs_read" in events.read_text()
    finally:
        append(events, "-:vmlane/vfs_read\n")
    assert "vmlane/vfs_read" not in events.read_text()


def test_btf_for_fentry():
    """fentry/fexit need the kernel's BTF."""
    assert Path("/sys/kernel/btf/vmlinux").stat().st_size > 1_000_000
