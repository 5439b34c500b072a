"""The text values of the function-made types print as (pure Python, no
BPF): a user name for a uid, local time for a timestamp, an errno's or a
signal's description, a kernel symbol, an IP or MAC address.

The types of sema.types call these from their ``show`` / ``show_bytes``
methods; runtime.decode asks the type, so a new value type brings its own
text and the decoder needs no branch for it.
"""

from __future__ import annotations

import functools
import os
import pwd
import time


@functools.lru_cache(maxsize=1024)
def username(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@functools.cache
def monotonic_to_wall_ns() -> int:
    """What to add to a CLOCK_MONOTONIC time to make it wall-clock time:
    taken once, so timestamps keep their differences to the microsecond
    (bpftrace, too, reads the boot time once)."""
    return time.time_ns() - time.monotonic_ns()


def format_timestamp(fmt: str, mono_ns: int) -> str:
    """strftime() of a CLOCK_MONOTONIC timestamp in local time; ``%f`` is
    the microseconds, as bpftrace has it."""
    wall_ns = monotonic_to_wall_ns() + mono_ns
    secs, ns = divmod(wall_ns, 1_000_000_000)
    return time.strftime(fmt.replace("%f", f"{ns // 1000:06d}"), time.localtime(secs))


def signal_description(n: int) -> str:
    """signal_name(): what strsignal(3) says of signal ``n`` (1..64), with
    bpftrace's texts for the numbers libc reserves and "N/A" outside."""
    import signal
    if 1 <= n <= 31:
        return signal.strsignal(n) or f"Unknown signal {n}"
    if n in (0, 32, 33):
        return f"Unknown signal {n}"
    if 34 <= n <= 64:
        return f"Real-time signal {n - 34}"
    return "N/A"


def symbolic_text(what: str, v: int) -> str:
    if what == "strerror":
        return os.strerror(v)
    if what == "signal_name":
        return signal_description(v)
    if what == "syscall_name":
        from ..arch.syscalls_x86_64 import SYSCALLS
        return SYSCALLS.get(v, str(v))
    if what == "ksym":
        from ..ksyms import kernel_symbols
        try:
            return kernel_symbols().format(v, offset=False)
        except OSError:
            return hex(v)
    return str(v)


def cgroup_roots(mounts: str = "/proc/mounts") -> list[tuple[str, str]]:
    """(name, mount point) of each mounted cgroup hierarchy: 'unified' for
    cgroup2 mounts first, then v1 ones named by their directory, sorted."""
    v1, v2 = [], []
    try:
        with open(mounts) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] in ("cgroup", "cgroup2") \
                        and os.path.isdir(parts[1]):
                    if parts[2] == "cgroup2":
                        v2.append(("unified", parts[1]))
                    else:
                        v1.append((os.path.basename(parts[1]), parts[1]))
    except OSError:
        pass
    return v2 + sorted(v1)


_CGROUP_PATHS: dict[tuple[int, str], str] = {}


def cgroup_path_in(cgid: int, root: str) -> str:
    """The path below ``root`` of the cgroup directory whose inode is
    ``cgid`` ('/' for the root itself, '' when none is)."""
    def ino(path):
        try:
            return os.stat(path).st_ino
        except OSError:
            return None
    known = _CGROUP_PATHS.get((cgid, root))
    if known is not None and ino(root + known.rstrip("/")) == cgid:
        return known
    if ino(root) == cgid:
        found = "/"
    else:
        found = ""
        for d, subdirs, _ in os.walk(root):
            hit = next((s for s in subdirs if ino(os.path.join(d, s)) == cgid), None)
            if hit is not None:
                found = os.path.join(d, hit)[len(root):]
                break
    if found:
        _CGROUP_PATHS[(cgid, root)] = found
    return found


def cgroup_path_text(cgid: int, pattern: str = "*") -> str:
    """bpftrace's text of a cgroup_path value: ``name:path`` for each
    hierarchy (matching the glob ``pattern``) that has the cgroup, joined
    by commas."""
    import fnmatch
    return ",".join(f"{name}:{path}" for name, root in cgroup_roots()
                    if fnmatch.fnmatchcase(name, pattern)
                    for path in [cgroup_path_in(cgid, root)] if path)


def inet_text(family: int, raw: bytes) -> str:
    """inet_ntop's text, as bpftrace prints it (::ffff:1.2.3.4 included)."""
    import socket  # here, not at start-up: few scripts print addresses
    if family == 10:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def mac_text(raw: bytes) -> str:
    return ":".join(f"{x:02X}" for x in raw)
