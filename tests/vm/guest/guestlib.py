"""What the guest tests share: the kernel's release and the limits of older
kernels they check the errors of, and ``trace``, which runs a script in the
test's own process (under emulation a new Python costs seconds of imports,
a script run in-process well under one)."""

from __future__ import annotations

import fcntl
import io
import os
import socket
import struct
import subprocess

N = 5
NOPE = "/nonexistent/bpfscope-oneliner"
OPENAT = 'tracepoint:syscalls:sys_enter_openat /comm == "bse2e"/'


SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1


def loopback_up() -> None:
    """Bring up lo: the guest's init starts no network, and a TCP workload
    on 127.0.0.1 needs it (connect fails with ENETUNREACH)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack_from("16sH", ifr)[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def release() -> tuple[int, int]:
    """The guest kernel's (major, minor)."""
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int(minor)


# Before 5.11 a hash map key is at most 512 bytes (MAX_BPF_STACK): str()
# keys of the default max_strlen (1024) and full kstack keys do not fit.
SMALL_HASH_KEYS = release() < (5, 11)
KEY_TOO_BIG = "takes hash map keys of at most 512 bytes (Linux 5.11 lifts the limit)"


def assert_key_too_big(r: subprocess.CompletedProcess) -> None:
    """The run failed with the error naming the key size limit of kernels
    before 5.11, and nothing else went wrong."""
    assert r.returncode == 1, r.stderr
    assert KEY_TOO_BIG in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def trace(script: str, helper: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``script`` run through bpfscope.api
    while ``helper`` runs to its end once every probe is attached; the maps
    are printed at exit."""
    from bpfscope import api
    from bpfscope.output.text import TextOutput
    out, err = io.StringIO(), io.StringIO()
    compiled = api.compile_script(script)
    code = api.run(compiled, TextOutput(out, err), duration=60,
                   on_attached=lambda: subprocess.run(helper, check=True, timeout=60),
                   should_stop=lambda: True)
    return code, out.getvalue(), err.getvalue()


def run_or_refused(script: str, works: bool, refusal: list[str], helper: list[str]) -> str | None:
    """Where the kernel has what ``script`` needs (``works``): its output,
    run while ``helper`` runs; elsewhere None, once the error (with
    ``helper`` never started) holds every phrase of ``refusal``."""
    if not works:
        from bpfscope.errors import BpfscopeError
        try:
            trace(script, ["/bin/true"])
        except BpfscopeError as e:
            msg = e.format()
            assert all(p in msg for p in refusal), msg
            return None
        raise AssertionError(f"{script!r} ran where {refusal} should refuse it")
    code, out, err = trace(script, helper)
    assert code == 0, err
    return out
