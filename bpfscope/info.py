"""``bpfscope --info``: what this kernel offers and what bpfscope uses,
in bpftrace 0.26's sections and rows (System, Build, Kernel features,
Map types, Probe types), each followed by bpfscope's own rows."""

from __future__ import annotations

import os
import platform

from . import __version__

# bpftrace 0.26's "Probe types" rows, in its order; the providers' own
# --info rows fill those they share and follow
PROBE_ROWS = ("kprobe", "tracepoint", "perf_event", "fentry", "kprobe_multi", "kprobe_session",
              "uprobe_multi", "raw_tp_special", "iter")


def _exists(path: str) -> str:
    return "yes" if os.path.exists(path) else "no"


def _yes(ok) -> str:
    return "yes" if ok else "no"


def _check(fn) -> bool:
    try:
        return bool(fn())
    except OSError:
        return False


def info_text() -> str:
    from .bpf import features
    from .bpf.consts import MapType
    from .bpf.maps import has_batch_ops
    lines = [
        "System",
        f"  OS: {platform.system()} {platform.release()} {platform.version()}",
        f"  Arch: {platform.machine()}",
        "",
        "Build",
        f"  version: bpfscope v{__version__}",
        f"  bpfscope: pure Python {platform.python_version()}, no LLVM",
        "",
        "Kernel features",
        f"  Instruction limit: {features.instruction_limit()}",
        f"  btf: {_exists('/sys/kernel/btf/vmlinux')}",
        "  module btf: " + _yes(_check(lambda: any(
            n != "vmlinux" for n in os.listdir("/sys/kernel/btf")))),
        f"  map batch: {_yes(_check(lambda: has_batch_ops(MapType.HASH)))}",
    ]
    checks = [
        ("BPF link for perf events", lambda: features.has_link_perf_event()),
        ("kprobes", lambda: os.path.exists("/sys/bus/event_source/devices/kprobe")),
        ("uprobes", lambda: os.path.exists("/sys/bus/event_source/devices/uprobe")),
        ("hardware counters (PMU)", lambda: os.path.exists("/sys/bus/event_source/devices/cpu")),
    ]
    # the helpers whose absence a script would meet, each with its release
    checks += [(f"{name} ({use}, Linux {since})", lambda hid=hid: features.has_helper(hid))
               for hid, (name, since, use) in sorted(features.HELPER_SINCE.items()) if use]
    checks.append((f"hash map keys over {features.MAX_OLD_HASH_KEY} bytes (str() keys, "
                   "Linux 5.11)", features.has_big_hash_keys))
    checks += [(f"{name} ({use}, Linux {since})", lambda name=name: _kfunc(name))
               for name, (since, use) in features.KFUNC_SINCE.items()]
    lines += [f"  {name}: {_yes(_check(check))}" for name, check in checks]
    lines.append(f"  tracefs: {_exists('/sys/kernel/tracing/events')}")
    lines += ["", "Map types"]
    for name, mt in (("hash", MapType.HASH), ("percpu hash", MapType.PERCPU_HASH),
                     ("array", MapType.ARRAY), ("percpu array", MapType.PERCPU_ARRAY),
                     ("stack_trace", MapType.STACK_TRACE),
                     ("perf_event_array", MapType.PERF_EVENT_ARRAY),
                     ("ringbuf", MapType.RINGBUF)):
        lines.append(f"  {name}: {_yes(_check(lambda mt=mt: features.has_map_type(mt)))}")
    lines += ["", "Probe types", *probe_type_lines()]
    return "\n".join(lines) + "\n"


def _kfunc(name: str) -> bool:
    """Whether the kernel's BTF has the kernel function ``name``."""
    from .btf import BtfError, load_vmlinux
    try:
        return load_vmlinux().find(name, "func") is not None
    except (BtfError, OSError):
        return False


def probe_type_lines() -> list[str]:
    """Which ways of attaching work here: 0.26's rows in its order, the
    attach layer's answer where a provider gives one (as root the checks
    load and attach a trivial program), then the providers' other rows."""
    from .attach import providers
    rows = dict(providers.info_rows())
    for name, value in _kernel_probe_rows(rows).items():
        rows.setdefault(name, value)
    ordered = [n for n in PROBE_ROWS if n in rows] + [n for n in rows if n not in PROBE_ROWS]
    for name, value in _other_probe_rows(rows).items():
        rows.setdefault(name, value)
        if name not in ordered:
            ordered.append(name)
    return [f"  {name}: {rows[name]}" for name in ordered]


def _other_probe_rows(rows: dict[str, str]) -> dict[str, str]:
    """Rows for the probe types 0.26's rows leave out, by the kernel
    object each attaches (or runs) through, so that every probe type has
    one: uprobes and USDT (the uprobe PMU), perf events (software,
    profile, interval), hardware counters, hardware breakpoints, and the
    probes the tracer runs itself (raw_tp_special)."""
    from .bpf import features
    from .bpf.consts import PerfHwId, PerfSwId, PerfType

    def perf(ptype, config=0, breakpoint=False, why="") -> str:
        err = features.perf_event_refusal(ptype, config, breakpoint)
        return "yes" if err is None else f"no ({why}perf_event_open: {err})"
    uprobe = os.path.exists("/sys/bus/event_source/devices/uprobe")
    return {
        "uprobe, uretprobe, usdt": "yes" if uprobe else "no (no uprobe PMU: CONFIG_UPROBE_EVENTS)",
        "software, profile, interval": perf(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK),
        "hardware": perf(PerfType.HARDWARE, PerfHwId.INSTRUCTIONS,
                         why="no PMU is exposed, as is common in virtual machines: "),
        "watchpoint, asyncwatchpoint": perf(PerfType.BREAKPOINT, breakpoint=True,
                                            why="no hardware breakpoints: "),
        "BEGIN, END, self, bench": rows.get("raw_tp_special", "no"),
    }


def _kernel_probe_rows(rows: dict[str, str]) -> dict[str, str]:
    """0.26's rows no provider answers: asked of the kernel here."""
    from .bpf import features
    from .bpf.consts import AttachType, ProgType
    out = {}
    out["perf_event"] = _yes(_check(lambda: features.has_prog_type(ProgType.PERF_EVENT)))
    multi = rows.get("kprobe_multi", "no") == "yes"
    out["kprobe_session"] = _yes(multi and _check(lambda: features.has_prog_type(
        ProgType.KPROBE, AttachType.TRACE_KPROBE_SESSION)))
    out["raw_tp_special"] = _yes(_check(features.has_raw_tp_special))
    out["iter"] = _iter_row()
    return out


def _iter_row() -> str:
    from .attach.iter import iter_status
    from .attach.provider import why_not
    return why_not(iter_status())
