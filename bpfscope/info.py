"""``bpfscope --info``: what this kernel offers and what bpfscope uses."""

from __future__ import annotations

import os
import platform

from . import __version__


def _exists(path: str) -> str:
    return "yes" if os.path.exists(path) else "no"


def info_text() -> str:
    from .bpf import features
    lines = [
        "System",
        f"  OS: {platform.system()} {platform.release()} {platform.version()}",
        f"  Arch: {platform.machine()}",
        "",
        "Build",
        f"  bpfscope: v{__version__} (pure Python {platform.python_version()}, no LLVM)",
        "",
        "Kernel features",
    ]
    checks = [
        ("ring buffer", lambda: features.has_ringbuf()),
        ("BPF link for perf events", lambda: features.has_link_perf_event()),
        ("BTF", lambda: os.path.exists("/sys/kernel/btf/vmlinux")),
        ("kprobes", lambda: os.path.exists("/sys/bus/event_source/devices/kprobe")),
        ("uprobes", lambda: os.path.exists("/sys/bus/event_source/devices/uprobe")),
        ("hardware counters (PMU)", lambda: os.path.exists("/sys/bus/event_source/devices/cpu")),
        ("module BTF (Linux 5.11)", lambda: any(
            n != "vmlinux" for n in os.listdir("/sys/kernel/btf"))),
    ]
    # the helpers whose absence a script would meet, each with its release
    checks += [(f"{name} ({use}, Linux {since})", lambda hid=hid: features.has_helper(hid))
               for hid, (name, since, use) in sorted(features.HELPER_SINCE.items()) if use]
    for name, check in checks:
        try:
            ok = check()
        except OSError:
            ok = False
        lines.append(f"  {name}: {'yes' if ok else 'no'}")
    lines.append(f"  tracefs: {_exists('/sys/kernel/tracing/events')}")
    lines += ["", "Probe types", *probe_type_lines()]
    return "\n".join(lines) + "\n"


def probe_type_lines() -> list[str]:
    """Which ways of attaching work here, each probe type asked once (as
    root the checks load and attach a trivial program)."""
    from .attach import providers
    return providers.info_lines()
