"""iter:NAME and iter:NAME:PIN (iter:task, iter:task_file, iter:task_vma
...): BPF iterators, listed with ``-l 'iter:*'`` (``-lv``: the fields of
``ctx``).

The program is a tracing program loaded with expected_attach_type
TRACE_ITER on FUNC bpf_iter_NAME; ``ctx`` is a ``struct bpf_iter__NAME *``
(``ctx.meta``, ``ctx.task``, ``ctx.file``, ``ctx.vma`` ...). Attaching is
a BPF_LINK_CREATE iterator link. Once every probe is attached the session
fires it (:meth:`Iter.fire`): BPF_ITER_CREATE and read() to the end, the
program running once per object, and then ends, as bpftrace does. The
kernel calls the program one last time without an object; the layout's
``guard`` skips that call. ``iter:NAME:PIN`` pins the link instead, at
PIN (relative to /sys/fs/bpf unless absolute), and prints where, as
bpftrace 0.26 ("Program pinned to /sys/fs/bpf/list"); reading the pinned
file (``cat``) runs it.

As in bpftrace, an iterator probe cannot be mixed with any other probe.

The kernel has an iterator NAME where its BTF has both the context
``struct bpf_iter__NAME`` and the function ``bpf_iter_NAME`` whose
parameters (after the ``struct bpf_iter_meta *``) are the context's fields.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass

from .. import btf
from ..errors import SemanticError
from ..sema.probes import ContextLayout, ExpandedProbe
from .provider import Provider

BPFFS = "/sys/fs/bpf"
ALONE = "Iterator probe can't be mixed with any other probe, not even another iterator"

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


@dataclass(frozen=True)
class IterTarget:
    name: str        # task, task_file ...
    btf_id: int      # FUNC bpf_iter_NAME
    pin: str = ""    # where to pin the link ('' to run it)


def layout(name: str) -> ContextLayout:
    """``ctx`` is the iterator's context; the object pointer after ``meta``
    (offset 8) is NULL on the last call."""
    return ContextLayout("iter", ctx_type=f"struct {CONTEXT_PREFIX}{name} *", guard=8)


def pin_path(pin: str) -> str:
    return pin if pin.startswith("/") else os.path.join(BPFFS, pin)


def make_probe(ap, kb) -> ExpandedProbe:
    from ..bpf.consts import AttachType
    parts = ap.parts
    if len(parts) not in (2, 3) or not parts[1]:
        raise SemanticError("iter probe type requires 1 or 2 arguments", ap.span)
    name = parts[1]
    if any(c in name for c in "*?["):
        raise SemanticError("iter probe type does not support wildcards", ap.span)
    found = iterators(kb)
    if name not in found:
        raise SemanticError(f"iter:{name}: this kernel has no iterator named {name} "
                            f"(bpfscope -l 'iter:*' lists them)", ap.span)
    pin = parts[2] if len(parts) == 3 else ""
    return ExpandedProbe("iter", ":".join(parts), IterTarget(name, found[name], pin),
                         None, ap.span, layout=layout(name), alone=ALONE,
                         load={"expected_attach_type": AttachType.TRACE_ITER,
                               "attach_btf_id": found[name]})


def run(link_fd: int, chunk: int = 1 << 16) -> int:
    """Read a new iterator of ``link_fd`` to its end (the program runs on
    every object); the bytes the program wrote to the seq file."""
    from ..bpf import link
    fd = link.iter_create(link_fd)
    total = 0
    try:
        while True:
            data = os.read(fd, chunk)
            if not data:
                return total
            total += len(data)
    finally:
        os.close(fd)


@functools.cache
def iter_status() -> str | None:
    """None when an iterator program loads and its link can be made here,
    else why not (a phrase)."""
    from ..bpf import link
    from ..bpf.consts import AttachType, ProgType
    from ..bpf.prog import load_program
    from ..bpf.sys import close_fd
    from .kfuncs import _TRIVIAL, refusal
    try:
        kb = btf.load_vmlinux()
    except btf.BtfError:
        return "this kernel has no BTF (/sys/kernel/btf/vmlinux), which iterators need"
    fid = iterators(kb).get("task")
    if fid is None:
        return "this kernel's BTF has no task iterator"
    fd = lfd = None
    try:
        fd = load_program(ProgType.TRACING, _TRIVIAL, name="bpfscope_probe",
                          expected_attach_type=AttachType.TRACE_ITER, attach_btf_id=fid)
        lfd = link.iter_link(fd)
    except OSError as e:
        return refusal("iterator", e)
    finally:
        close_fd(lfd)
        close_fd(fd)
    return None


class Iter(Provider):
    """The provider for "iter"."""

    names = ("iter",)
    aliases = {"it": "iter"}
    prog_type = "tracing"

    def expand(self, ap, provider: str, options):
        try:
            kb = btf.load_vmlinux()
        except btf.BtfError as e:
            raise SemanticError(f"iter probes need the kernel's BTF: {e.message}", ap.span) from None
        return [make_probe(ap, kb)]

    def attach(self, probe, prog_fd):
        from ..bpf import link
        fd = link.iter_link(prog_fd)
        if probe.target.pin:
            try:
                link.obj_pin(fd, pin_path(probe.target.pin))
            except OSError:
                os.close(fd)
                raise
        return [fd]

    def fire(self, probe, fds, say) -> bool:
        """Run the iterator (or, pinned, say where it is); the session ends."""
        if probe.target.pin:
            say(f"Program pinned to {pin_path(probe.target.pin)}")
        else:
            run(fds[0])
        return True

    def list(self, pattern: str, verbose: bool, options) -> list[str]:
        try:
            kb = btf.load_vmlinux()
        except btf.BtfError:
            return []
        return list_probes(kb, pattern.partition(":")[2], verbose)
