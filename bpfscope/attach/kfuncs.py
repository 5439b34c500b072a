"""Kernel functions as BTF and ftrace know them: the toolkit the
kernel-function providers share (fentry, kprobe, rawtracepoint and the
typed args of tracepoints).

- spec parsing of ``provider:[module:]function`` and the limit on the
  number of probes one attach point may expand to;
- BTF: the blob of vmlinux or of a module, its FUNC ids, matching names
  and wildcards against the functions ftrace can hook, and prototypes
  turned into ``args`` fields and ``-lv`` lines;
- fds of modules' kernel BTF objects (loading a program on a module's
  function needs one);
- a trial load and attach of a trivial tracing program, and the phrase
  for the kernel's refusal.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import functools
import os

from .. import btf
from ..btf import kinds as K
from ..errors import SemanticError
from ..sema.probes import ArgField

_AVAILABLE = "/sys/kernel/tracing/available_filter_functions"
# --traceable-functions FILE: read the list of hookable functions from FILE
TRACEABLE_ENV = "BPFSCOPE_TRACEABLE_FUNCTIONS"


def available_path() -> str:
    """Where the functions ftrace can hook are listed: tracefs'
    available_filter_functions, or the file --traceable-functions named."""
    return os.environ.get(TRACEABLE_ENV) or _AVAILABLE
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



def probe_name(provider: str, module: str, func: str, offset: int) -> str:
    """A kernel function probe's full name, the ``probe`` builtin's value."""
    where = func if module == "vmlinux" else f"{module}:{func}"
    return f"{provider}:{where}" + (f"+{offset}" if offset else "")


# ------------------------------------------------------------ BTF lookups

def btf_of(module: str) -> btf.Btf:
    return btf.load_vmlinux() if module == "vmlinux" else btf.load_module(module)


def kernel_func_id(name: str) -> int | None:
    """The vmlinux BTF id of the function ``name`` (a kfunc to call), None
    without BTF or without the function."""
    try:
        return btf.load_vmlinux().find(name, "func")
    except Exception:  # noqa: BLE001 - no BTF: no kernel functions
        return None


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
        with open(available_path(), "rb") as f:
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
