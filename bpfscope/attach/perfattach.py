"""Attaching a loaded program to an opened perf event: the last step of
every provider whose hook is a perf event (tracepoint, interval, profile,
software, hardware, kprobe, uprobe, usdt)."""

from __future__ import annotations

from ..bpf import link
from ..bpf.sys import close_fd


def attach_to_perf_event(prog_fd: int, pfd: int, enable: bool = True) -> list[int]:
    """Attach to an opened perf event (and enable it, unless not
    ``enable``); the fds to close to detach."""
    try:
        lfd = link.attach_perf_event(prog_fd, pfd, enable=enable)
    except BaseException:
        close_fd(pfd)
        raise
    return [lfd, pfd] if lfd != pfd else [pfd]


def attach_to_perf_events(prog_fd: int, pfds: list[int], enable: bool = True) -> list[int]:
    """Attach to every opened perf event of ``pfds`` (one per CPU, say):
    the fds to close to detach, all or none (on failure every fd of
    ``pfds`` and every link made is closed)."""
    out: list[int] = []
    pending = list(pfds)
    try:
        while pending:
            out.extend(attach_to_perf_event(prog_fd, pending.pop(0), enable))
    except BaseException:
        for fd in out + pending:
            close_fd(fd)
        raise
    return out
