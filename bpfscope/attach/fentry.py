"""fentry and fexit (kfunc/kretfunc): BPF trampolines on kernel functions.

Spec forms (bpftrace's), after the provider name::

    fentry:vfs_read             a function of vmlinux (or, if vmlinux has
                                none of that name, of a loaded module)
    fentry:ext4:ext4_file_open  a function of one module
    fentry:vfs_*                every traceable BTF function the glob names
    fentry:*:foo*               ... in vmlinux and every module

The function's BTF FUNC_PROTO types ``args``: one ArgField per parameter
at ``8 * slot`` in the tracing context (an array of u64 argument values; a
struct passed by value of 9 to 16 bytes takes two slots), ``int`` or
``pointer``, with its size, signedness and C type name. fexit probes also
get an ArgField ``$retval`` just after the last argument (the kernel puts
the return value there), for the lowering's ``retval``.

A program is loaded with expected_attach_type TRACE_FENTRY/TRACE_FEXIT and
the FUNC's BTF id (plus, for a module function, an fd of the module's BTF
object) and attached with BPF_RAW_TRACEPOINT_OPEN(name=NULL), which gives a
BPF link.

The kernel at hand decides: :func:`fentry_status` loads and attaches a
trivial fentry program once (cached) and says why fentry cannot be used
(no BTF, refused with EPERM, ...). When fentry is unusable but kprobes
work, ``fentry:f``/``fexit:f`` run as kprobe/kretprobe (args of the
first six parameters stay typed, read from registers; fexit keeps only
``retval``), saying so once on stderr; that fallback and the reverse
(kprobe as fentry, :meth:`Fentry.expand_instead`) are applied by
:mod:`.fallback`. ``BPFSCOPE_NO_FENTRY=1``
pretends fentry is missing (for tests of that fallback).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from .. import btf
from ..btf import kinds as K
from ..errors import MissingProbe, SemanticError
from ..sema.probes import BTF_SLOTS, ExpandedProbe
from .fallback import note_once
from .kfuncs import (btf_of, func_args, listing_lines, match,
                     module_and_function, module_btf_fd, probe_name, refusal, signature,
                     try_tracing)
from .provider import Provider, why_not

# The kernel's test target for trampolines (net/bpf/test_run.c): a
# harmless function to try an fentry attach on.
_PROBE_FUNCS = ("bpf_fentry_test1", "bpf_fentry_test2", "vfs_read")
MAX_SLOTS = 12   # x86-64 trampolines take up to 12 argument slots (6.1: 6)

# ------------------------------------------------------------ spec parsing

def parse_spec(ap, provider: str) -> tuple[str | None, str]:
    """(module or None, function or glob) of ``fentry:[mod:]func``."""
    mod, func = module_and_function(ap, provider)
    if "+" in func:
        raise SemanticError(f"{provider} probes cannot take an offset "
                            f"(use kprobe:{func})", ap.span)
    return mod, func


@dataclass(frozen=True)
class FentryTarget:
    module: str
    func: str
    btf_id: int
    retprobe: bool


# ------------------------------------------------------------ does it work here?

@functools.cache
def fentry_status() -> str | None:
    """None when fentry programs load and attach on this kernel, else why
    not (a phrase: 'fentry attach is refused (EPERM)')."""
    if os.environ.get("BPFSCOPE_NO_FENTRY") == "1":
        return "fentry is switched off (BPFSCOPE_NO_FENTRY=1)"
    from ..bpf.consts import AttachType
    try:
        kb = btf.load_vmlinux()
    except btf.BtfError:
        return "this kernel has no BTF (/sys/kernel/btf/vmlinux), which fentry needs"
    fid = next((f for f in (kb.find(n, K.FUNC) for n in _PROBE_FUNCS) if f), None)
    if fid is None:
        return "no function to test fentry on was found in BTF"
    e = try_tracing(AttachType.TRACE_FENTRY, fid)
    return None if e is None else refusal("fentry", e)


# ------------------------------------------------------------ the provider

def make_probe(ap, provider: str, module: str, func: str, fid: int,
               name: str | None = None) -> ExpandedProbe:
    """The fentry/fexit probe of one function (FUNC ``fid`` of ``module``)."""
    from ..bpf.consts import AttachType
    ret = provider == "fexit"
    kb = btf_of(module)
    try:
        sig = signature(kb, fid)
    except btf.BtfError as e:
        raise SemanticError(e.message, ap.span) from None
    load = {"expected_attach_type": AttachType.TRACE_FEXIT if ret else AttachType.TRACE_FENTRY,
            "attach_btf_id": fid}
    if module != "vmlinux":
        try:
            load["attach_btf_obj_fd"] = module_btf_fd(module)
        except SemanticError as e:
            raise SemanticError(e.message, ap.span) from None
    return ExpandedProbe(provider, name or f"{provider}:{module}:{func}",
                         FentryTarget(module, func, fid, ret),
                         func_args(kb, sig, ret) or None, ap.span, func=func,
                         layout=BTF_SLOTS, is_return=ret, load=load)


def expand_functions(ap, provider: str, mod: str | None, func: str
                     ) -> list[tuple[str, str, int]]:
    try:
        pairs = match(mod, func)
    except btf.BtfError as e:
        raise SemanticError(e.message, ap.span) from None
    if not pairs:
        if "*" in func or (mod and "*" in mod):
            raise MissingProbe(f"No matches for {ap.raw}", ap.span)
        where = f"module {mod}" if mod else "BTF"
        raise MissingProbe(f"function {func} not found in {where}: {ap.raw} needs "
                            f"its BTF type information", ap.span)
    return pairs


class Fentry(Provider):
    """The provider for "fentry" and "fexit"."""

    names = ("fentry", "fexit")
    aliases = {"f": "fentry", "fr": "fexit", "kfunc": "fentry", "kretfunc": "fexit"}
    prog_type = "tracing"
    fallback = {"fentry": "kprobe", "fexit": "kretprobe"}

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        return self.probes(ap, provider, parse_spec(ap, provider))

    def parse_spec(self, ap, provider: str) -> tuple[str | None, str]:
        return parse_spec(ap, provider)

    def probes(self, ap, provider: str, spec) -> list[ExpandedProbe]:
        """The probes of a parsed spec, on a kernel where fentry works."""
        mod, func = spec
        pairs = expand_functions(ap, provider, mod, func)
        return [make_probe(ap, provider, m, f, fid) for m, f, fid in pairs]

    def status(self) -> str | None:
        return fentry_status()

    def info(self) -> list[tuple[str, str]]:
        return [("fentry", why_not(fentry_status()))]

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        return list_probes(pattern, verbose)

    def expand_instead(self, ap, provider: str, spec, why: str) -> list[ExpandedProbe]:
        """kprobe/kretprobe on a kernel without kprobes: fentry/fexit;
        ``spec`` is kprobe's (module, function, offset)."""
        fprov = "fexit" if provider == "kretprobe" else "fentry"
        if spec.offset:
            raise SemanticError(f"{ap.raw} cannot be attached: {why} and fentry, which "
                                "runs instead, cannot take an offset", ap.span)
        try:
            triples = expand_functions(ap, fprov, spec.module, spec.func)
        except SemanticError as e:
            raise SemanticError(f"{ap.raw} cannot be attached: {why} and fentry, which "
                                f"would run instead, fails: {e.message}", ap.span) from None
        note_once(f"{why}: {provider} probes run as {fprov} probes")
        return [make_probe(ap, fprov, m, f, fid, name=probe_name(provider, m, f, 0))
                for m, f, fid in triples]

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        from ..bpf import link
        return [link.raw_tracepoint_open(None, prog_fd)]


def list_probes(pattern: str, verbose: bool = False) -> list[str]:
    """``-l``/``-lv`` lines for an fentry/fexit pattern."""
    parts = pattern.split(":")
    provider = Fentry.aliases.get(parts[0], parts[0])
    if len(parts) == 1:
        parts.append("*")
    if len(parts) > 3:
        return []
    mod = parts[1] if len(parts) == 3 else None
    func = parts[-1] or "*"
    if mod is None and "*" not in func:
        pairs = match(None, func)
    else:
        pairs = match(mod if mod is not None else "*", func)
    out = []
    for m, f, fid in sorted(pairs):
        out.append(f"{provider}:{m}:{f}")
        if verbose:
            kb = btf_of(m)
            out.extend(listing_lines(kb, signature(kb, fid)))
    return out
