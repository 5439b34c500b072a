"""iter:NAME (iter:task, iter:task_file, iter:task_vma ...): BPF
iterators. bpfscope lists them (``-l 'iter:*'``, ``-lv`` with what each
gives its program) but does not run them yet: a script using one is told
so at its place.

The kernel has an iterator NAME where its BTF has both the context
``struct bpf_iter__NAME`` and the function ``bpf_iter_NAME`` whose
parameters (after the ``struct bpf_iter_meta *``) are the context's fields.
"""

from __future__ import annotations

import fnmatch

from .. import btf
from ..errors import SemanticError
from .provider import Provider

CONTEXT_PREFIX = "bpf_iter__"
FUNC_PREFIX = "bpf_iter_"


def iterators(kb) -> dict[str, int]:
    """NAME -> the id of FUNC bpf_iter_NAME, for every iterator of ``kb``."""
    funcs = {kb.name_of(t): t for t in kb.ids("FUNC")
             if kb.name_of(t).startswith(FUNC_PREFIX)}
    out = {}
    for t in kb.ids("STRUCT"):
        name = kb.name_of(t)
        if name.startswith(CONTEXT_PREFIX):
            it = name[len(CONTEXT_PREFIX):]
            fid = funcs.get(FUNC_PREFIX + it)
            if fid is not None:
                out[it] = fid
    return out


def list_probes(kb, pattern: str, verbose: bool = False) -> list[str]:
    """``-l``/``-lv`` lines for what follows ``iter:``."""
    glob = pattern.split(":", 1)[0] or "*"
    lines = []
    for name, fid in sorted(iterators(kb).items()):
        if not fnmatch.fnmatchcase(name, glob):
            continue
        lines.append(f"iter:{name}")
        if verbose:
            proto = kb.type(kb.type(fid).type)
            lines += [f"    {kb.type_name(p.type)} {p.name}" for p in proto.params[1:]]
    return lines


class Iter(Provider):
    """The provider for "iter" (listing only, for now)."""

    names = ("iter",)
    aliases = {"it": "iter"}
    prog_type = "tracing"

    def expand(self, ap, provider: str, options):
        raise SemanticError("iter probes are not supported yet", ap.span)

    def attach(self, probe, prog_fd):  # pragma: no cover - never expanded
        raise NotImplementedError

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        try:
            kb = btf.load_vmlinux()
        except btf.BtfError:
            return []
        return list_probes(kb, pattern.partition(":")[2], verbose)
