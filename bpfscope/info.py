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
    """Which ways of attaching work here, each tried once (as root the
    checks load and attach a trivial program)."""
    from .attach import fentry, kprobe, rawtracepoint

    def why_not(status) -> str:
        why = status()
        return "yes" if why is None else f"no ({why})"
    kp = kprobe.kprobe_status()
    rows = [
        ("kprobe", why_not(kprobe.kprobe_status)),
        ("kprobe_multi", "yes" if kp is None and kprobe.kprobe_multi_ok() else "no"),
        ("tracepoint", _exists("/sys/kernel/tracing/events")),
        ("fentry", why_not(fentry.fentry_status)),
        ("rawtracepoint", "tp_btf (typed args)" if rawtracepoint.tp_btf_status() is None
         else "raw_tracepoint (arg0..argN)"),
    ]
    return [f"  {name}: {value}" for name, value in rows]
