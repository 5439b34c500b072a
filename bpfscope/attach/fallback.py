"""Declared fallbacks, applied: a probe type the kernel at hand lacks runs
as the one its provider names in ``Provider.fallback``.

bpfscope declares kprobe/kretprobe -> fentry/fexit (when BTF has the
function) and fentry/fexit -> kprobe/kretprobe (BTF-typed args of the
first six parameters read from registers; fexit keeps only ``retval``);
the conversions are the target providers' ``expand_instead`` (kprobe.py,
fentry.py). The registry (providers.py) calls :func:`expand` for every
probe type that declares a fallback: syntax errors come first, then the
kernel is asked (``status``), and the switch is said once on stderr;
without either way the error says why in one sentence.
"""

from __future__ import annotations

from ..errors import SemanticError, warn


def note_once(text: str) -> None:
    """A note for the user, once per compile or session."""
    warn(text, note=True)


def expand(prov, provider: str, ap, other_of) -> list:
    """The probes of ``ap`` (canonical probe type ``provider``, served by
    ``prov``): its own where the kernel can run them, else those of the
    declared fallback; ``other_of(name)`` is the registry's provider of a
    canonical name."""
    spec = prov.parse_spec(ap, provider)
    why = prov.status()
    if why is None:
        return prov.probes(ap, provider, spec)
    target = prov.fallback[provider]
    other = other_of(target)
    fwhy = other.status()
    if fwhy is not None:
        raise SemanticError(f"{ap.raw} cannot be attached: {why} and {fwhy}", ap.span)
    return other.expand_instead(ap, provider, spec, why)
