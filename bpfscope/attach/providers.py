"""The registry of probe types: one :class:`~.provider.Provider` per
module of attach/, looked up by canonical name or alias.

Everything that depends on the probe type goes through here: expanding a
written attach point (:func:`expand`, with the declared fallbacks
applied), attaching (:func:`attach`), missed-hit counts (:func:`missed`),
``-l``/``-lv`` (:func:`listing`) and the "Probe types" lines of
``--info`` (:func:`info_lines`). A new probe type is one module with a
Provider subclass, added to ``BUILTIN`` here (or, from outside
bpfscope, passed to :func:`register`).
"""

from __future__ import annotations

import fnmatch

from ..errors import SemanticError
from ..sema.probes import ExpandedProbe
from . import fallback
from .bench import Bench
from .iter import Iter
from .provider import ProbeOptions, Provider
from .sampling import PROVIDERS as SAMPLING
from .selfprobe import SelfProbe
from .special import Special
from .tracefs import has_wildcard
from .tracepoint import Tracepoint
from .watchpoint import Watchpoint

__all__ = ["ProbeOptions", "Provider", "register", "unregister", "expand", "expander",
           "attach", "missed", "run_once", "listing", "info_lines"]


class LazyProvider(Provider):
    """A provider whose module is imported the first time it is used
    (expanding, attaching, listing...): what the registry needs is
    declared here, and a test checks it against the real class. Keeps
    the ELF and DWARF readers out of scripts that use no such probe."""

    def __init__(self, module: str, cls: str, names, aliases, prog_type,
                 reattaches=frozenset(), fallback=None):
        self._where = (module, cls)
        self._real = None
        self.names, self.aliases, self.prog_type = tuple(names), dict(aliases), prog_type
        self.reattaches = frozenset(reattaches)
        self.fallback = dict(fallback or {})

    def real(self) -> Provider:
        if self._real is None:
            import importlib
            module, cls = self._where
            self._real = getattr(importlib.import_module(module, __package__), cls)()
        return self._real

    def __getattribute__(self, name):
        if name.startswith("_") or name in ("names", "aliases", "prog_type", "fallback",
                                            "run_once", "reattaches", "real"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "real")(), name)


# In --info order.
# kprobe, fentry, rawtracepoint and tp_btf are lazy too: a tracepoint
# script (or a compile the cache holds) imports none of their BTF and
# kallsyms readers (issue 18).
BUILTIN = (Special(),
           LazyProvider(".kprobe", "Kprobe", ("kprobe", "kretprobe"),
                        {"k": "kprobe", "kr": "kretprobe"}, "kprobe",
                        fallback={"kprobe": "fentry", "kretprobe": "fexit"}),
           Tracepoint(),
           LazyProvider(".fentry", "Fentry", ("fentry", "fexit"),
                        {"f": "fentry", "fr": "fexit", "kfunc": "fentry", "kretfunc": "fexit"},
                        "tracing", fallback={"fentry": "kprobe", "fexit": "kretprobe"}),
           LazyProvider(".rawtracepoint", "RawTracepoint", ("rawtracepoint",),
                        {"rt": "rawtracepoint"}, "raw_tracepoint"),
           LazyProvider(".tpbtf", "TpBtf", ("tp_btf",), {}, "tracing"),
           LazyProvider(".uprobe", "Uprobe", ("uprobe", "uretprobe"),
                        {"u": "uprobe", "ur": "uretprobe"}, "kprobe",
                        reattaches=("uprobe", "uretprobe")),
           LazyProvider(".usdt", "Usdt", ("usdt",), {"U": "usdt"}, "kprobe"),
           *SAMPLING, Iter(), Watchpoint(), SelfProbe(), Bench())

PROVIDERS: dict[str, Provider] = {}   # canonical name -> provider
ALIASES: dict[str, str] = {}          # alias -> canonical name


def register(provider: Provider) -> None:
    """Make ``provider`` serve its ``names`` and ``aliases``."""
    for name in provider.names:
        PROVIDERS[name] = provider
    ALIASES.update(provider.aliases)


def unregister(provider: Provider) -> None:
    for name in provider.names:
        if PROVIDERS.get(name) is provider:
            del PROVIDERS[name]
    for alias in provider.aliases:
        if ALIASES.get(alias) in provider.names:
            del ALIASES[alias]


for _p in BUILTIN:
    register(_p)


def provider_name(ap) -> str:
    head = ap.parts[0] if ap.parts else ap.raw
    return ALIASES.get(head, head)


def expand(ap, options: ProbeOptions = ProbeOptions()) -> list[ExpandedProbe]:
    """The expander handed to sema: one written attach point -> probes."""
    name = provider_name(ap)
    prov = PROVIDERS.get(name)
    if prov is None:
        raise SemanticError(f"Invalid probe type: {name}", ap.span)
    if name in prov.fallback:
        out = fallback.expand(prov, name, ap, PROVIDERS.__getitem__)
    else:
        out = prov.expand(ap, name, options)
    for p in out:
        if not p.prog_type:
            p.prog_type = PROVIDERS[p.provider].prog_type
    return out


def expander(options: ProbeOptions):
    return lambda ap: expand(ap, options)


def attach(probe: ExpandedProbe, prog_fd: int) -> list[int]:
    return PROVIDERS[probe.provider].attach(probe, prog_fd)


def group_key(probe: ExpandedProbe):
    """What probes must share to be attached together (None: alone)."""
    prov = PROVIDERS.get(probe.provider)
    key = prov.group_key(probe) if prov is not None else None
    return None if key is None else (probe.provider, key)


def attach_group(probes: list[ExpandedProbe], prog_fd: int) -> list[int]:
    if len(probes) == 1:
        return attach(probes[0], prog_fd)
    return PROVIDERS[probes[0].provider].attach_group(probes, prog_fd)


def sessions(probes: list[ExpandedProbe], programs: list) -> dict:
    """Probes one program serves together (kprobe_session): {index of the
    first: (index of the other, merged program, load arguments)}; the
    session loads the merged program once and attaches it through
    :func:`attach_group` of both."""
    out: dict = {}
    for prov in {id(p): p for p in (PROVIDERS.get(x.provider) for x in probes) if p}.values():
        out.update(prov.sessions(probes, programs))
    return out

def fire(probe: ExpandedProbe, fds: list[int], say) -> bool:
    """Set off a probe whose provider fires it itself (iter); True when the
    session ends after it."""
    prov = PROVIDERS.get(probe.provider)
    return prov is not None and prov.fire(probe, fds, say)


def missed(probe: ExpandedProbe, fds: list[int]) -> int | None:
    """Hits the kernel hook of an attached probe missed (kprobes' nmissed),
    None where the probe type or the kernel does not count them."""
    return PROVIDERS[probe.provider].missed(probe, fds)


def reattaches(probe: ExpandedProbe) -> bool:
    """Whether the probe follows its file when the file is replaced."""
    prov = PROVIDERS.get(probe.provider)
    return prov is not None and probe.provider in prov.reattaches


def newest_first(probe: ExpandedProbe) -> bool:
    """Whether the kernel runs the programs on one hook of the probe's type
    newest first (see Provider.newest_first)."""
    prov = PROVIDERS.get(probe.provider)
    return prov is not None and prov.newest_first


def run_once_name(ap) -> str:
    """'begin', 'end' or 'signal' for an attach point of a run-once probe type as
    written (BEGIN, end), else ''."""
    name = provider_name(ap)
    prov = PROVIDERS.get(name)
    return prov.run_once.get(name, "") if prov is not None else ""


def run_once(probe: ExpandedProbe) -> str:
    """'begin', 'end' or 'signal' for a probe the session runs instead of
    attaching it (BEGIN, END), else ''."""
    prov = PROVIDERS.get(probe.provider)
    return prov.run_once.get(probe.provider, "") if prov is not None else ""


TYPE_KEYWORDS = ("struct ", "union ", "enum ")


# the providers whose probes live in a file: a wildcard type lists them
# only for a path or the -p process (uretprobe: the same list as uprobe)
FILE_PROVIDERS = ("uprobe", "usdt")


def listing(pattern: str, verbose: bool = False,
            options: ProbeOptions = ProbeOptions()) -> list[str]:
    """The ``-l PATTERN`` lines, as bpftrace 0.26 lists: each of the
    comma-separated patterns in turn; ``struct X``, ``union X``, ``enum X``
    (with wildcards) name kernel types (``-lv``: their definitions); a
    pattern without ':' is ``*:PATTERN``; a probe type with wildcards
    (``*``, ``h*``) stands for each kernel probe type it matches (each
    provider's ``listed`` name)."""
    lines: list[str] = []
    for part in pattern.split(","):
        part = " ".join(part.split()) or "*:*"
        if part.startswith(TYPE_KEYWORDS):
            lines += type_listing(part, verbose)
            continue
        if ":" not in part:
            part = "*:" + part
        head, _, rest = part.partition(":")
        if has_wildcard(head):
            for prov in dict.fromkeys(PROVIDERS.values()):
                if prov.listed and fnmatch.fnmatchcase(prov.listed, head):
                    lines += prov.list(f"{prov.listed}:{rest}", verbose, options) or []
            # uprobes and USDT probes need a file: a path, or the -p process
            if "/" in rest.partition(":")[0] or getattr(options, "pid", None) is not None:
                for name in FILE_PROVIDERS:
                    if fnmatch.fnmatchcase(name, head):
                        lines += PROVIDERS[name].list(f"{name}:{rest}", verbose, options) or []
            continue
        prov = PROVIDERS.get(ALIASES.get(head, head))
        if prov is not None:
            lines += prov.list(part, verbose, options) or []
    return lines


def type_listing(pattern: str, verbose: bool) -> list[str]:
    """``-l 'struct task_*'``: the kernel's struct, union and enum names
    the glob matches, sorted; ``-lv``: each one's C definition and a blank
    line."""
    from .. import btf
    from ..btf import kinds as K
    from ..btf.cname import definition
    try:
        kb = btf.load_vmlinux()
    except btf.BtfError:
        return []
    found: dict[str, int] = {}
    for kind, word in ((K.STRUCT, "struct"), (K.UNION, "union"), (K.ENUM, "enum"),
                       (K.ENUM64, "enum")):
        for tid in kb.ids(kind):
            name = kb.name_of(tid)
            full = f"{word} {name}"
            if name and full not in found and fnmatch.fnmatchcase(full, pattern):
                found[full] = tid
    if not verbose:
        return sorted(found)
    out: list[str] = []
    for full in sorted(found):
        out += [*definition(kb, found[full]).split("\n"), ""]
    return out


def info_rows() -> list[tuple[str, str]]:
    """The providers' (label, value) rows for "Probe types" in ``--info``:
    which ways of attaching work here (as root the checks load and attach
    a trivial program)."""
    return [row for prov in dict.fromkeys(PROVIDERS.values()) for row in prov.info()]


def info_lines() -> list[str]:
    return [f"  {name}: {value}" for name, value in info_rows()]
