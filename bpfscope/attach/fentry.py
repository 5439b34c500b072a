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
``retval``), saying so once on stderr. The reverse (kprobe as fentry) is
in :mod:`.kprobe`. ``BPFSCOPE_NO_FENTRY=1`` pretends fentry is missing
(for tests of that fallback).
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import functools
import os
import sys
from dataclasses import dataclass

from .. import btf
from ..btf import kinds as K
from ..errors import SemanticError
from ..sema.probes import ArgField, ExpandedProbe

# The kernel's test target for trampolines (net/bpf/test_run.c): a
# harmless function to try an fentry attach on.
_PROBE_FUNCS = ("bpf_fentry_test1", "bpf_fentry_test2", "vfs_read")
_AVAILABLE = "/sys/kernel/tracing/available_filter_functions"
MAX_SLOTS = 12   # x86-64 trampolines take up to 12 argument slots (6.1: 6)

_notes: set[str] = set()


def note_once(text: str) -> None:
    """Print a note to stderr once per process."""
    if text not in _notes:
        _notes.add(text)
        sys.stderr.write(text + "\n")


# ------------------------------------------------------------ spec parsing

def module_and_function(ap, provider: str) -> tuple[str | None, str]:
    """(module or None, function) of ``provider:[module:]function``, the
    form kprobes and fentry share."""
    parts = list(ap.parts[1:])
    if len(parts) not in (1, 2):
        raise SemanticError(f"{provider} probe type requires 1 or 2 arguments, "
                            f"found {len(parts)}", ap.span)
    func = parts[-1]
    mod = parts[0] if len(parts) == 2 else None
    if not func or (mod is not None and not mod):
        raise SemanticError(f"{provider} should be attached to a function", ap.span)
    return mod, func


def parse_spec(ap, provider: str) -> tuple[str | None, str]:
    """(module or None, function or glob) of ``fentry:[mod:]func``."""
    mod, func = module_and_function(ap, provider)
    if "+" in func:
        raise SemanticError(f"{provider} probes cannot take an offset "
                            f"(use kprobe:{func})", ap.span)
    return mod, func


# ------------------------------------------------------------ BTF lookups

def btf_of(module: str) -> btf.Btf:
    return btf.load_vmlinux() if module == "vmlinux" else btf.load_module(module)


@functools.cache
def own_funcs(kb: btf.Btf) -> dict[str, int]:
    """Name -> FUNC id of one blob's own functions (a module's, not its
    base's); the first of several static functions of one name wins."""
    out: dict[str, int] = {}
    kind = kb.kind
    for t in range(kb.start_id, kb.count):
        if kind(t) == K.FUNC:
            out.setdefault(kb.name_of(t), t)
    out.pop("", None)
    return out


def own_func(kb: btf.Btf, name: str) -> int | None:
    """The FUNC id of ``name`` in the blob itself (not its base)."""
    return next((t for t in kb.find_all(name, K.FUNC) if t >= kb.start_id), None)


def signature(kb: btf.Btf, fid: int):
    """(params, return type id) of FUNC ``fid``."""
    proto = kb.type(kb.type(fid).type)
    if proto.kind != K.FUNC_PROTO:
        raise btf.BtfError(f"function {kb.name_of(fid)!r} has no prototype in BTF")
    return proto


@functools.cache
def traceable() -> frozenset[str] | None:
    """The functions ftrace can hook (None when the list is unreadable)."""
    try:
        with open(_AVAILABLE, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return frozenset(line.split(None, 1)[0].decode()
                     for line in data.splitlines() if line.strip())


def _modules(mod: str | None) -> list[str]:
    mods = ["vmlinux", *btf.list_modules()]
    if mod is None:
        return mods
    if "*" in mod:
        return [m for m in mods if fnmatch.fnmatchcase(m, mod)]
    return [mod]


def match(mod: str | None, func: str, names=None, one=None) -> list[tuple[str, str, int]]:
    """(module, function, FUNC id) triples that ``[mod:]func`` names, sorted; a name
    without wildcards resolves to vmlinux first, then the first module
    that has it. ``names`` (a blob -> {name: type id} function) and
    ``one`` (blob, name -> type id or None, for a name without wildcards)
    match something else than the traceable functions: raw tracepoints."""
    wild = "*" in func or (mod is not None and "*" in mod)
    avail = traceable() if names is None else None
    out = []
    for m in _modules(mod):
        try:
            kb = btf_of(m)
        except btf.BtfError:
            if mod is not None and not wild:
                raise
            continue
        if "*" in func:
            funcs = (names or own_funcs)(kb)
            hits = [n for n in funcs if fnmatch.fnmatchcase(n, func)]
            if avail is not None:
                hits = [n for n in hits if n in avail]
            out.extend((m, n, funcs[n]) for n in sorted(hits))
        else:
            fid = own_func(kb, func) if names is None else one(kb, func)
            if fid is not None:
                out.append((m, func, fid))
                if not wild:
                    break
    return out


@dataclass(frozen=True)
class FentryTarget:
    module: str
    func: str
    btf_id: int
    retprobe: bool


def _strip(kb, tid: int) -> int:
    return kb.resolve(tid, typedefs=True)


def _is_user_pointer(kb, tid: int) -> bool:
    """A pointer whose target carries the __user type tag."""
    t = kb.type(kb.resolve(tid, typedefs=True))
    if t.kind != K.PTR:
        return False
    tid = t.type
    while True:
        t = kb.type(tid)
        if t.kind == K.TYPE_TAG and t.name == "user":
            return True
        if t.kind in (K.CONST, K.VOLATILE, K.RESTRICT, K.TYPE_TAG):
            tid = t.type
            continue
        return False


def arg_field(kb, name: str, tid: int, offset: int) -> tuple[ArgField, int]:
    """The ArgField of one parameter (or the return value) and the number
    of u64 slots it takes."""
    c_type = kb.type_name(tid)
    t = kb.type(_strip(kb, tid))
    if t.kind == K.PTR:
        return ArgField(name, offset, 8, False, "pointer", c_type,
                        user=_is_user_pointer(kb, tid)), 1
    if t.kind == K.INT:
        return ArgField(name, offset, t.size, t.signed, "bool" if t.is_bool else "int",
                        c_type), 1
    if t.kind in (K.ENUM, K.ENUM64):
        return ArgField(name, offset, t.size, t.signed, "int", c_type), 1
    size = kb.sizeof(tid) if t.kind != K.UNKN else 8
    slots = max(1, (size + 7) // 8)
    return ArgField(name, offset, size, False, "struct", c_type), slots


def func_args(kb, sig: btf.FuncProto, retprobe: bool) -> list[ArgField]:
    """``args`` of a function: its parameters, and for fexit ``$retval``."""
    out, slot = [], 0
    for i, p in enumerate(sig.params):
        f, n = arg_field(kb, p.name or f"arg{i}", p.type, 8 * slot)
        out.append(f)
        slot += n
    if retprobe and sig.ret:
        out.append(arg_field(kb, "$retval", sig.ret, 8 * slot)[0])
    return out


def listing_lines(kb, sig: btf.FuncProto) -> list[str]:
    """bpftrace's -lv lines: each parameter, then the return value."""
    lines = [f"    {kb.type_name(p.type)} {p.name}" for p in sig.params]
    if sig.ret:
        lines.append(f"    {kb.type_name(sig.ret)} retval")
    return lines


# ------------------------------------------------------------ module BTF fds

class _BtfInfo(ctypes.Structure):
    _fields_ = [("btf", ctypes.c_uint64), ("btf_size", ctypes.c_uint32),
                ("id", ctypes.c_uint32), ("name", ctypes.c_uint64),
                ("name_len", ctypes.c_uint32), ("kernel_btf", ctypes.c_uint32)]


_btf_fds: dict[str, int] = {}


def module_btf_fd(module: str) -> int:
    """An fd of the kernel's BTF object of ``module`` (kept open: program
    loads of that module's functions need it)."""
    from ..bpf.attrs import GetNextIdAttr, InfoByFdAttr
    from ..bpf.consts import Cmd
    from ..bpf.sys import BpfSyscallError, addr, bpf, close_fd
    if module in _btf_fds:
        return _btf_fds[module]
    cur = 0
    while True:
        a = GetNextIdAttr(start_id=cur)
        try:
            bpf(Cmd.BTF_GET_NEXT_ID, a)
        except BpfSyscallError:
            break
        cur = a.next_id
        try:
            fd = bpf(Cmd.BTF_GET_FD_BY_ID, GetNextIdAttr(start_id=cur))
        except BpfSyscallError:
            continue
        name = ctypes.create_string_buffer(64)
        info = _BtfInfo(name=addr(name), name_len=64)
        try:
            bpf(Cmd.OBJ_GET_INFO_BY_FD,
                InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=addr(info)))
        except BpfSyscallError:
            close_fd(fd)
            continue
        if info.kernel_btf and name.value.decode() == module:
            _btf_fds[module] = fd
            return fd
        close_fd(fd)
    raise SemanticError(f"the kernel has no BTF object for module {module}")


# ------------------------------------------------------------ does it work here?

_TRIVIAL = bytes.fromhex("b700000000000000" "9500000000000000")  # r0 = 0; exit


def try_tracing(attach_type: int, btf_id: int) -> OSError | None:
    """Load a trivial BPF_PROG_TYPE_TRACING program of ``attach_type`` on
    BTF type ``btf_id`` of vmlinux and attach it once: None when that
    works, else the kernel's error."""
    from ..bpf import link
    from ..bpf.consts import ProgType
    from ..bpf.prog import load_program
    from ..bpf.sys import BpfSyscallError, close_fd
    fd = lfd = None
    try:
        fd = load_program(ProgType.TRACING, _TRIVIAL, name="bpfscope_probe",
                          expected_attach_type=attach_type, attach_btf_id=btf_id)
        lfd = link.raw_tracepoint_open(None, fd)
    except (BpfSyscallError, OSError) as e:
        return e
    finally:
        close_fd(lfd)
        close_fd(fd)
    return None


def refusal(what: str, e: OSError) -> str:
    """Why the kernel refused a trial attach, as a phrase."""
    code = errno.errorcode.get(e.errno, str(e.errno))
    if e.errno in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, 524):
        return f"this kernel does not support {what} ({code})"
    return f"{what} attach is refused ({code})"


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
        raise SemanticError(str(e), ap.span) from None
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
                         context="record", is_return=ret, load=load)


def expand_functions(ap, provider: str, mod: str | None, func: str
                     ) -> list[tuple[str, str, int]]:
    try:
        pairs = match(mod, func)
    except btf.BtfError as e:
        raise SemanticError(str(e), ap.span) from None
    if not pairs:
        if "*" in func or (mod and "*" in mod):
            raise SemanticError(f"No matches for {ap.raw}", ap.span)
        where = f"module {mod}" if mod else "BTF"
        raise SemanticError(f"function {func} not found in {where}: {ap.raw} needs "
                            f"its BTF type information", ap.span)
    return pairs


class Fentry:
    """The provider for "fentry" and "fexit"."""

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        mod, func = parse_spec(ap, provider)
        why = fentry_status()
        if why is not None:
            from . import kprobe
            kwhy = kprobe.kprobe_status()
            if kwhy is not None:
                raise SemanticError(f"{ap.raw} cannot be attached: {why} and {kwhy}",
                                    ap.span)
            return kprobe.fentry_as_kprobe(ap, provider, mod, func, why)
        pairs = expand_functions(ap, provider, mod, func)
        from .kprobe import check_limit
        check_limit(ap, len(pairs))
        return [make_probe(ap, provider, m, f, fid) for m, f, fid in pairs]

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        from ..bpf import link
        return [link.raw_tracepoint_open(None, prog_fd)]


def list_probes(pattern: str, verbose: bool = False) -> list[str]:
    """``-l``/``-lv`` lines for an fentry/fexit pattern."""
    parts = pattern.split(":")
    provider = {"f": "fentry", "fr": "fexit", "kfunc": "fentry",
                "kretfunc": "fexit"}.get(parts[0], parts[0])
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
