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


def format_timestamp(fmt: str, mono_ns: int) -> str:
    """strftime() of a CLOCK_MONOTONIC timestamp in local time; ``%f`` is
    the microseconds, as bpftrace has it."""
    wall_ns = time.time_ns() - time.monotonic_ns() + mono_ns
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
    if what == "ksym":
        from ..ksyms import kernel_symbols
        try:
            return kernel_symbols().format(v, offset=False)
        except OSError:
            return hex(v)
    return str(v)


def inet_text(family: int, raw: bytes) -> str:
    """inet_ntop's text, as bpftrace prints it (::ffff:1.2.3.4 included)."""
    import socket  # here, not at start-up: few scripts print addresses
    if family == 10:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def mac_text(raw: bytes) -> str:
    return ":".join(f"{x:02X}" for x in raw)
