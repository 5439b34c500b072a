"""Attaching a loaded program to an opened perf event: the last step of
every provider whose hook is a perf event (tracepoint, interval, profile,
software, hardware, kprobe, uprobe, usdt)."""

from __future__ import annotations

from ..bpf import link
from ..bpf.sys import close_fd


def attach_to_perf_event(prog_fd: int, pfd: int) -> list[int]:
    """Attach to an opened perf event; the fds to close to detach."""
    try:
        lfd = link.attach_perf_event(prog_fd, pfd)
    except BaseException:
        close_fd(pfd)
        raise
    return [lfd, pfd] if lfd != pfd else [pfd]
