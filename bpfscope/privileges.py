"""Whether this process may trace at all, checked once before anything is
compiled or loaded (as bpftrace checks for root at start-up), so that an
unprivileged user is told the real reason instead of a misleading later
failure (tracefs "not mounted" for its mode-0700 directory, EPERM from map
creation). Effective capabilities are read from /proc/self/status rather
than judged by uid: root without them fails, a non-root user with them
works."""

from __future__ import annotations

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

MESSAGE = ("bpfscope needs root, or the capabilities CAP_BPF and CAP_PERFMON "
           "(and CAP_SYS_ADMIN for some probe types)")


def effective_caps(status_path: str = "/proc/self/status") -> int | None:
    """The CapEff mask, or None when it cannot be read."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        return None
    return None


def can_trace(caps: int | None) -> bool:
    """CAP_SYS_ADMIN alone covers BPF and perf events (also on kernels older
    than 5.8, which lack CAP_BPF/CAP_PERFMON); otherwise both are needed. An
    unreadable mask is not held against the user: the kernel decides."""
    if caps is None:
        return True
    has = lambda bit: bool(caps >> bit & 1)  # noqa: E731
    return has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))


def missing_privileges() -> str | None:
    """The error to give, or None when this process may trace."""
    return None if can_trace(effective_caps()) else MESSAGE
