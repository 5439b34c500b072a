"""A tracepoint field that only BTF types right, in a real trace: the
``fl_owner_t owner`` of filelock:generic_add_lease is a pointer (the
format file's text cannot tell), read while the test takes a lease."""

from __future__ import annotations

import fcntl
import os

import pytest

from bpfscope import btf
from bpfscope.attach import providers, tracefs
from bpfscope.lang.parser import parse

pytestmark = pytest.mark.usefixtures("kernel")

KERNEL_HALF = 0xffff800000000000   # x86-64 kernel addresses start here


def test_lease_owner_is_a_kernel_pointer(e2e, tmp_path, no_leaks):
    try:
        btf.load_vmlinux()
        tracefs.read_format("filelock", "generic_add_lease")
    except Exception as e:  # noqa: BLE001 - no BTF or no such tracepoint
        pytest.skip(f"filelock:generic_add_lease with BTF is not available: {e}")
    ap = parse("tracepoint:filelock:generic_add_lease {}").probes[0].attach_points[0]
    [probe] = providers.expand(ap)
    assert probe.arg("owner").kind == "pointer"
    path = tmp_path / "leased"
    path.write_text("x")
    t = e2e.Trace("-e", 'tracepoint:filelock:generic_add_lease /pid == $1/ '
                  '{ printf("%lu %lu %d\\n", args.i_ino, args.owner, args.owner >= $2); '
                  'exit(); }', str(os.getpid()), str(KERNEL_HALF))
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as e:
            t.proc.kill()
            t.finish()
            pytest.skip(f"this file system gives no leases: {e}")
        ino = os.fstat(fd).st_ino
    finally:
        os.close(fd)
    out, err = t.finish()
    assert t.returncode == 0, err
    got_ino, owner, high = out.split("\n")[0].split()
    assert (int(got_ino), high) == (ino, "1")
    assert int(owner) >= KERNEL_HALF
