"""tp_btf: BTF-enabled raw tracepoints, always typed.

Spec forms, after the provider name (rawtracepoint's)::

    tp_btf:sched_switch             vmlinux's, else the first module's
    tp_btf:vmlinux:sched_switch     one blob's
    tp_btf:sched_*                  every match in vmlinux and modules
    tp_btf:*:foo*

bpftrace 0.26 has no probe type of this name: its ``rawtracepoint``
loads exactly this kind of program where the kernel has BTF. ``tp_btf``
is the same probe (libbpf's section name for it) without
rawtracepoint's fallback: the program is always BPF_PROG_TYPE_TRACING
with expected_attach_type BPF_TRACE_RAW_TP and attach_btf_id the
``btf_trace_<name>`` typedef (plus the module's BTF object fd for a
module's tracepoint), attached with BPF_RAW_TRACEPOINT_OPEN (a BPF
link). ``args.NAME`` are the tracepoint's arguments typed from BTF (a
pointer to a kernel struct reads its fields with ``->``), ``arg0..argN``
their u64 slots. On a kernel where such programs do not attach (no BTF,
too old, ``BPFSCOPE_NO_TP_BTF=1``) the error says why and points to
``rawtracepoint``, whose raw_tracepoint programs need no BTF.

What the two share (finding the typedefs, naming the arguments, the
listing) lives in :mod:`.rawtracepoint`.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..sema.probes import ExpandedProbe
from . import rawtracepoint as rt
from .provider import Provider, why_not


class TpBtf(Provider):
    """The provider for "tp_btf"."""

    names = ("tp_btf",)
    prog_type = "tracing"

    @property
    def listed(self) -> str:
        # `-l '*:...'` lists bpftrace's probe types; these are rawtracepoint's lines
        return ""

    def status(self) -> str | None:
        return rt.tp_btf_status()

    def info(self) -> list[tuple[str, str]]:
        return [("tp_btf", why_not(rt.tp_btf_status()))]

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        if rt.tp_btf_status() is not None:
            return []
        return rt.list_probes(pattern, verbose, provider="tp_btf", typed_only=True)

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        mod, event = rt.parse_spec(ap, "tp_btf")
        why = rt.tp_btf_status()
        if why is not None:
            raise SemanticError(f"tp_btf probes cannot be used here: {why}; "
                                f"rawtracepoint:{event} gives arg0..argN without BTF",
                                ap.span)
        return rt.typed_probes(ap, mod, event, "tp_btf")

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        from ..bpf import link
        return [link.raw_tracepoint_open(None, prog_fd)]
