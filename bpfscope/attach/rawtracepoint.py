"""rawtracepoint (rt): programs on the kernel's tracepoints themselves.

Spec forms, after the provider name (bpftrace 0.26's)::

    rawtracepoint:sched_switch          vmlinux's, else the first module's
    rawtracepoint:vmlinux:sched_switch  one blob's
    rawtracepoint:sched_*               every match in vmlinux and modules
    rawtracepoint:*:foo*

A raw tracepoint sees the arguments the kernel passes to the tracepoint
(``trace_sched_switch(preempt, prev, next, prev_state)``), not the
record a ``tracepoint`` probe gets. With BTF, each tracepoint has a
typedef ``btf_trace_<name>``: a pointer to a FUNC_PROTO whose first
parameter is the tracepoint's ``void *__data`` and whose other
parameters are the arguments. The program is then a tp_btf one
(BPF_PROG_TYPE_TRACING, expected_attach_type BPF_TRACE_RAW_TP,
attach_btf_id the typedef's id), whose context is the argument array
without ``__data``, so ``args.<name>`` are typed exactly as fentry's
parameters (:func:`.kfuncs.func_args`). The prototype has no parameter
names; they come from a function with the same parameters
(``__probestub_<name>``, ``__traceiter_<name>`` or ``__bpf_trace_<name>``).

Without BTF, or where a tp_btf program cannot attach
(:func:`tp_btf_status`, ``BPFSCOPE_NO_TP_BTF=1`` pretends so), the
program is a BPF_PROG_TYPE_RAW_TRACEPOINT one attached by name; only
``arg0``..``argN`` (u64) are available, and the names come from the
tracefs event list. Either way the attach is BPF_RAW_TRACEPOINT_OPEN,
which gives a BPF link.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass

from .. import btf
from ..btf import kinds as K
from ..errors import MissingProbe, MissingRawTracepoint, SemanticError
from ..sema.probes import RAW_SLOTS, ExpandedProbe
from . import kfuncs, tracefs
from .provider import Provider

PREFIX = "btf_trace_"
# Functions whose parameters name a tracepoint's arguments, most specific first.
_NAMED = ("__probestub_", "__traceiter_", "__bpf_trace_")
# Event categories of tracefs that are not kernel tracepoints of their own
# name (syscalls:sys_enter_* ride on the sys_enter raw tracepoint).
_NOT_RAW = {"syscalls", "ftrace", "kprobes", "uprobes"}


@dataclass(frozen=True)
class RawTarget:
    """What attach needs: the tracepoint's name and whether the program
    is tp_btf (its target fixed at load time) or raw_tracepoint."""
    module: str
    event: str
    btf_typed: bool


@functools.cache
def own_events(kb: btf.Btf) -> dict[str, int]:
    """Tracepoint name -> its btf_trace_ typedef id, of one blob's own types."""
    out: dict[str, int] = {}
    for t in kb.own_ids_prefixed(PREFIX, K.TYPEDEF):
        out.setdefault(kb.name_of(t)[len(PREFIX):], t)
    return out


def own_event(kb: btf.Btf, event: str) -> int | None:
    """The btf_trace_ typedef of one tracepoint in the blob itself (a
    lookup in BTF's name index, without building :func:`own_events`)."""
    return next((t for t in kb.find_all(PREFIX + event, K.TYPEDEF) if t >= kb.start_id),
                None)


def proto(kb: btf.Btf, tid: int) -> btf.FuncProto:
    """The FUNC_PROTO of typedef ``tid``, with parameter names and without
    ``__data``."""
    p = kb.type(kb.resolve(kb.type(kb.resolve(tid, typedefs=True)).type, typedefs=True))
    if p.kind != K.FUNC_PROTO or not p.params:
        raise btf.BtfError(f"{kb.name_of(tid)} is not a tracepoint prototype in BTF")
    event = kb.name_of(tid)[len(PREFIX):]
    names = [q.name for q in p.params]
    for prefix in _NAMED:
        fid = kfuncs.own_func(kb, prefix + event)
        if fid is None:
            continue
        named = kb.type(kb.type(fid).type).params
        if [q.type for q in named] == [q.type for q in p.params]:
            names = [q.name for q in named]
            break
    params = tuple(btf.Param(n, q.type) for n, q in zip(names[1:], p.params[1:]))
    return btf.FuncProto(p.id, p.kind, p.name, p.ret, params, p.variadic)


# ------------------------------------------------------------ does tp_btf work here?

@functools.cache
def tp_btf_status() -> str | None:
    """None when tp_btf programs attach here, else why not (a phrase)."""
    if os.environ.get("BPFSCOPE_NO_TP_BTF") == "1":
        return "tp_btf is switched off (BPFSCOPE_NO_TP_BTF=1)"
    from ..bpf.consts import AttachType
    try:
        kb = btf.load_vmlinux()
    except btf.BtfError:
        return "this kernel has no BTF (/sys/kernel/btf/vmlinux)"
    tid = own_event(kb, "sched_switch") or next(iter(own_events(kb).values()), None)
    if tid is None:
        return "BTF describes no tracepoints (no btf_trace_ types)"
    e = kfuncs.try_tracing(AttachType.TRACE_RAW_TP, tid)
    return None if e is None else kfuncs.refusal("tp_btf", e)


# ------------------------------------------------------------ names without BTF

def untyped_events() -> list[str]:
    """Raw tracepoint names known from tracefs's event list."""
    return sorted({e.split(":", 1)[1] for e in tracefs.list_tracepoints()
                   if e.split(":", 1)[0] not in _NOT_RAW})


# ------------------------------------------------------------ the provider

def parse_spec(ap, provider: str = "rawtracepoint") -> tuple[str | None, str]:
    parts = list(ap.parts[1:])
    if len(parts) not in (1, 2) or not all(parts):
        raise SemanticError(f"{provider} probe type requires 1 or 2 arguments "
                            "([module:]event)", ap.span)
    return (parts[0] if len(parts) == 2 else None), parts[-1]


def typed_probe(ap, module: str, event: str, tid: int,
                provider: str = "rawtracepoint") -> ExpandedProbe:
    from ..bpf.consts import AttachType
    kb = kfuncs.btf_of(module)
    try:
        args = kfuncs.func_args(kb, proto(kb, tid), False)
    except btf.BtfError as e:
        raise SemanticError(e.message, ap.span) from None
    load = {"expected_attach_type": AttachType.TRACE_RAW_TP, "attach_btf_id": tid}
    if module != "vmlinux":
        try:
            load["attach_btf_obj_fd"] = kfuncs.module_btf_fd(module)
        except SemanticError as e:
            raise SemanticError(e.message, ap.span) from None
    return ExpandedProbe(provider, f"{provider}:{module}:{event}",
                         RawTarget(module, event, True), args or None, ap.span,
                         layout=RAW_SLOTS, load=load, prog_type="tracing")


def untyped_probes(ap, mod: str | None, event: str) -> list[ExpandedProbe]:
    known = untyped_events()
    names = [n for n in known if fnmatch.fnmatchcase(n, event)]
    if not known and "*" not in event:
        names = [event]  # no list to check against: the kernel decides at attach
    where = mod if mod and "*" not in mod else None
    return [ExpandedProbe("rawtracepoint",
                          f"rawtracepoint:{where}:{n}" if where else f"rawtracepoint:{n}",
                          RawTarget(where or "", n, False), None, ap.span,
                          layout=RAW_SLOTS, prog_type="raw_tracepoint")
            for n in names]


BTF_DIR = "/sys/kernel/btf/"


class RawTracepoint(Provider):
    """The provider for "rawtracepoint"."""

    names = ("rawtracepoint",)
    aliases = {"rt": "rawtracepoint"}
    prog_type = "raw_tracepoint"  # "tracing" where BTF types the event (tp_btf)

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        return list_probes(pattern, verbose)

    def info(self) -> list[tuple[str, str]]:
        return [("rawtracepoint", "tp_btf (typed args)" if tp_btf_status() is None
                 else "raw_tracepoint (arg0..argN)")]

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        mod, event = parse_spec(ap)
        if mod and "*" not in mod and mod != "vmlinux" and os.path.exists(BTF_DIR + "vmlinux") \
                and not os.path.exists(BTF_DIR + mod):
            # bpftrace 0.26's words for a module the kernel has no BTF of
            raise MissingProbe(f"No BTF found for {mod}:{event}.", ap.span)
        if tp_btf_status() is not None:
            return found_or_missing(ap, mod, event, untyped_probes(ap, mod, event))
        return typed_probes(ap, mod, event, "rawtracepoint")

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        from ..bpf import link
        t: RawTarget = probe.target
        return [link.raw_tracepoint_open(None if t.btf_typed else t.event, prog_fd)]


def typed_probes(ap, mod: str | None, event: str, provider: str) -> list[ExpandedProbe]:
    """The tp_btf probes ``[mod:]event`` (globs) names, for ``provider``."""
    try:
        found = kfuncs.match(mod, event, names=own_events, one=own_event)
    except btf.BtfError as e:
        raise SemanticError(e.message, ap.span) from None
    return found_or_missing(ap, mod, event,
                            [typed_probe(ap, m, n, tid, provider) for m, n, tid in found],
                            provider)


def found_or_missing(ap, mod: str | None, event: str, out: list[ExpandedProbe],
                     provider: str = "rawtracepoint") -> list[ExpandedProbe]:
    """``out``, or the MissingProbe error when it is empty."""
    if not out:
        if "*" in event or (mod and "*" in mod):
            raise MissingProbe(f"No matches for {ap.raw}", ap.span)
        if mod or provider != "rawtracepoint":
            where = f" in module {mod}" if mod else ""
            raise MissingProbe(f"raw tracepoint not found{where}: {event}", ap.span)
        raise MissingRawTracepoint(f"raw tracepoint not found: {event}", ap.span)
    return out


def list_probes(pattern: str, verbose: bool = False, provider: str = "rawtracepoint",
                typed_only: bool = False) -> list[str]:
    """``-l``/``-lv`` lines for a rawtracepoint pattern: with BTF
    ``rawtracepoint:module:event`` and, verbose, the typed arguments
    (``provider`` names the lines; ``typed_only``: nothing without BTF)."""
    parts = pattern.split(":")
    if len(parts) == 1:
        parts.append("*")
    if len(parts) > 3:
        return []
    mod = parts[1] if len(parts) == 3 else None
    event = parts[-1] or "*"
    try:
        btf.load_vmlinux()
    except btf.BtfError:
        if typed_only:
            return []
        return [f"rawtracepoint:{n}" for n in untyped_events()
                if fnmatch.fnmatchcase(n, event)]
    out = []
    for m, n, tid in sorted(kfuncs.match(mod, event, names=own_events, one=own_event)):
        out.append(f"{provider}:{m}:{n}")
        if verbose:
            kb = kfuncs.btf_of(m)
            out.extend(kfuncs.listing_lines(kb, proto(kb, tid)))
    return out
