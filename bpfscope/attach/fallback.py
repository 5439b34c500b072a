"""kprobe <-> fentry: on a kernel that lacks one of them, the other runs
instead.

:class:`KprobeOrFentry` and :class:`FentryOrKprobe` are the providers the
registry uses for kprobe/kretprobe and fentry/fexit: each asks the kernel
at hand (``kprobe_status``, ``fentry_status``) first and, when its own way
does not work but the other does, expands the probe as the other kind,
saying so once on stderr; without either the error says why in one
sentence. kprobe/kretprobe run as fentry/fexit when BTF has the
function; fentry/fexit run as kprobe/kretprobe with the BTF-typed args
of the first six parameters read from registers (fexit keeps only
``retval``).
"""

from __future__ import annotations


from ..arch.x86_64 import REGS_ARGS
from ..errors import SemanticError, warn
from ..sema.probes import ArgField, ExpandedProbe
from . import fentry, kfuncs, kprobe
from .kfuncs import check_limit
from .kprobe import Spec, kprobe_probes, probe_name

def note_once(text: str) -> None:
    """A note for the user, once per compile or session."""
    warn(text, note=True)


class KprobeOrFentry(kprobe.Kprobe):
    """kprobe/kretprobe, as fentry/fexit on a kernel without kprobes."""

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        spec = kprobe.parse_spec(ap, provider)
        why = kprobe.kprobe_status()
        if why is not None:
            fwhy = fentry.fentry_status()
            if fwhy is not None:
                raise SemanticError(f"{ap.raw} cannot be attached: {why} and {fwhy}",
                                    ap.span)
            return kprobe_as_fentry(ap, provider, spec, why)
        return self.probes(ap, provider, spec)


class FentryOrKprobe(fentry.Fentry):
    """fentry/fexit, as kprobe/kretprobe on a kernel where fentry does not
    work."""

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        mod, func = fentry.parse_spec(ap, provider)
        why = fentry.fentry_status()
        if why is not None:
            kwhy = kprobe.kprobe_status()
            if kwhy is not None:
                raise SemanticError(f"{ap.raw} cannot be attached: {why} and {kwhy}",
                                    ap.span)
            return fentry_as_kprobe(ap, provider, mod, func, why)
        return self.probes(ap, provider, mod, func)


def kprobe_as_fentry(ap, provider: str, spec: Spec, why: str) -> list[ExpandedProbe]:
    """kprobe/kretprobe on a kernel without kprobes: fentry/fexit."""
    fprov = "fexit" if provider == "kretprobe" else "fentry"
    if spec.offset:
        raise SemanticError(f"{ap.raw} cannot be attached: {why} and fentry, which "
                            "runs instead, cannot take an offset", ap.span)
    try:
        triples = fentry.expand_functions(ap, fprov, spec.module, spec.func)
    except SemanticError as e:
        raise SemanticError(f"{ap.raw} cannot be attached: {why} and fentry, which "
                            f"would run instead, fails: {e.message}", ap.span) from None
    check_limit(ap, len(triples))
    note_once(f"{why}: {provider} probes run as {fprov} probes")
    return [fentry.make_probe(ap, fprov, m, f, fid,
                              name=probe_name(provider, m, f, 0))
            for m, f, fid in triples]


def fentry_as_kprobe(ap, provider: str, mod: str | None, func: str,
                     why: str) -> list[ExpandedProbe]:
    """fentry/fexit on a kernel where fentry does not work: kprobe/kretprobe,
    with BTF-typed args (fentry: the first six parameters, from registers;
    fexit: none, only retval)."""
    kprov = "kretprobe" if provider == "fexit" else "kprobe"
    triples = fentry.expand_functions(ap, provider, mod, func)
    check_limit(ap, len(triples))
    note_once(f"{why}: {provider} probes run as {kprov} probes")
    fids = {(m, f): fid for m, f, fid in triples}

    def args_of(m: str, f: str) -> list[ArgField] | None:
        if provider == "fexit":
            return None
        kb = kfuncs.btf_of(m)
        proto = kfuncs.signature(kb, fids[(m, f)])
        out = []
        for a in kfuncs.func_args(kb, proto, False):
            slot = a.offset // 8
            if a.kind in ("int", "bool", "pointer") and slot < len(REGS_ARGS):
                out.append(ArgField(a.name, REGS_ARGS[slot], 8 if a.size > 8 else a.size,
                                    a.signed, a.kind, a.c_type, user=a.user))
        return out or None

    spec = Spec(mod, func)
    pairs = [(m, f) for m, f, _ in triples]
    names = [f"{provider}:{m}:{f}" for m, f in pairs]
    return kprobe_probes(ap, kprov, spec, pairs, args_of, names)
