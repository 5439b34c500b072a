"""The stacks and symbols family: kstack, ustack, ksym, usym, kaddr,
uaddr, percpu_kaddr, kptr, uptr and reg; the builtin variables kstack,
ustack and func (the traced function's name).

kaddr's address is looked up in /proc/kallsyms by the check, in the
analyser's final pass, and written on the call node for the lowering to
read. percpu_kaddr's BTF id is looked up when its call is lowered (so
sema's unit tests need neither BTF nor kallsyms), by this module, not by
codegen, which talks to neither.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ..arch.x86_64 import PT_REGS, PT_REGS_X86_64, REGS_IP
from ..codegen.insn import R0, R1, R2, R3, VReg
from ..codegen.loweringvalues import Int, Mem
from ..errors import SemanticError, warn
from ..lang import ast
from ..runtime.decode import decoder
from ..runtime.values import Symbolic
from ..sema import types as T
from ..sema.registry import BuiltinVar, Function, register
from ..sema.uaddr import resolve as resolve_uaddr
from .common import lower_argument, unsupported
from .strings import literal_text


def check_stack(an, e: ast.Call) -> T.Type:
    return an.stack_type(e.name, e.args, e)


def store_stack(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    lw.store_stack(t, dst, e.span)


_DW_FEATURE = "dw_ustack (DWARF stack unwinding)"

def check_stack_builtin(an, e: ast.Builtin) -> T.Type:
    """kstack and ustack: kstack() and ustack() in the default mode."""
    return an.stack_type(e.name, [], e)


@dataclass(frozen=True)
class FuncType(T.Type):
    """``func``: a ksym in probes of kernel functions, a usym in probes of
    user-space ones, as bpftrace 0.26 types it. Each expanded probe traces
    one function, known when the script compiles, so the value is the
    index of its name in ``names`` (the functions of every probe of the
    script of that kind, the same type for all of them) and prints as that
    name, the text the traced function's symbol has (demangled unless
    cpp_demangle is off)."""
    kind: str  # "ksym" or "usym"
    names: tuple[str, ...] = ()

    size = 8

    def show_bytes(self, data: bytes, off: int) -> tuple[str, bytes]:
        i = int.from_bytes(data[off:off + 8], "little")
        return self.names[i], bytes(data[off:off + 8])

    def __str__(self) -> str:
        return self.kind


@decoder(FuncType)
def decode_func(t: FuncType, data: bytes, off: int, ctx) -> str:
    """The traced function's name, as plain text: it prints, sorts and
    goes into JSON as the function's name always has."""
    return t.show_bytes(data, off)[0]


# analyser -> {user: the FuncType of its script's probes of that kind}
_FUNC_TYPES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def check_func(an, e: ast.Builtin) -> T.Type:
    p = an.probe
    if not p.func:
        an.err(f"The func builtin can not be used with '{p.provider}' probes", e.span)
    user = p.layout.user
    types = _FUNC_TYPES.setdefault(an, {})
    if user not in types:  # the probes are all expanded before any is typed
        names = sorted({x.func for _, exps in an.expanded for x in exps
                        if x.func and x.layout.user == user})
        types[user] = FuncType("usym" if user else "ksym", tuple(names))
    return types[user]


def store_func(lw, e: ast.Builtin, dst: Mem, t: T.Type) -> None:
    lw.b.st(8, dst.base, dst.off, e.type.names.index(lw.probe.func))


def check_dw_ustack(an, e: ast.Call) -> T.Type:
    st = an.stack_type(e.name, e.args, e)
    if not an.probe.layout.user and not an.probe.layout.task_regs:
        an.err(f"dw_ustack() can not be used with '{an.probe.provider}' probes", e.span)
    # bpftrace 0.26's feature flag, in its words; unlike 0.26 (default
    # warn), no warning unless asked: bpfscope's dw_ustack is not unstable
    flag = str(an.config.get("unstable_dw_ustack", "enable"))
    if flag in ("error", "0"):
        an.err(f"{_DW_FEATURE} feature is not enabled by default. To enable this unstable "
               "feature, set the config flag to enable. unstable_dw_ustack=enable", e.span)
    elif flag == "warn" and an.final:
        warn(f"Script is using an unstable feature: {_DW_FEATURE}. To prevent this warning "
             "you must explicitly enable it in the config e.g. unstable_dw_ustack=enable",
             key="unstable_dw_ustack")
    return T.DwStackType(st.limit, st.mode)


# the stack copy is tried at these sizes, largest first: a read that runs
# past the top of the thread's stack mapping fails whole
_COPY_TRIES = 6


def store_dw_ustack(lw, e: ast.Call, dst: Mem, t: T.DwStackType) -> None:
    """(pid, bytes copied, rip rsp rbp rbx r12 r13 r14 r15, stack copy)."""
    b = lw.b
    lw.store_user_pid(dst.at(0, 8))
    regs = dst.at(16, 64)
    copy = dst.at(T.DwStackType.HEADER, t.copy)
    names = ("rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15")
    v = b.vreg()
    if lw.probe.layout.user:
        for i, name in enumerate(names):    # the context is the user registers
            b.ldx(8, v, lw.ctx, PT_REGS_X86_64[name])
            b.stx(8, regs.base, regs.off + 8 * i, v)
    else:
        # the thread's user registers, read into the copy's room first
        b.call("get_current_task_btf")
        b.mov(R1, R0)
        b.call("task_pt_regs")
        b.mov(R3, R0)
        lw.addr(R1, copy)
        b.mov(R2, 168)
        b.call("probe_read_kernel")
        for i, name in enumerate(names):
            b.ldx(8, v, copy.base, copy.off + PT_REGS_X86_64[name])
            b.stx(8, regs.base, regs.off + 8 * i, v)
    n = b.vreg()
    b.mov(n, 0)
    done = b.label("dw_copied")
    size = t.copy
    for _ in range(_COPY_TRIES):
        lw.addr(R1, copy)
        b.mov(R2, size)
        b.ldx(8, R3, regs.base, regs.off + 8)     # rsp
        b.call("probe_read_user")
        nxt = b.label("dw_smaller")
        b.jcond("ne", R0, 0, nxt)
        b.mov(n, size)
        b.ja(done)
        b.place(nxt)
        size //= 2
    b.place(done)
    b.stx(8, dst.base, dst.off + 8, n)


@decoder(T.DwStackType)
def decode_dw_ustack(t: T.DwStackType, data: bytes, off: int, ctx):
    """Unwound here, then symbolized as ustack of its mode and limit."""
    # the unwinder (CFI, DWARF readers) loads with the first such stack
    from ..runtime.unwind import RECORD_REGS, unwind
    pid = int.from_bytes(data[off:off + 8], "little")
    n = min(int.from_bytes(data[off + 8:off + 16], "little"), t.copy)
    regs = {r: int.from_bytes(data[off + 16 + 8 * i:off + 24 + 8 * i], "little")
            for i, r in enumerate(RECORD_REGS)}
    base = off + T.DwStackType.HEADER
    frames = unwind(pid, regs, bytes(data[base:base + n]), t.limit)
    raw = b"".join(f.to_bytes(8, "little") for f in frames)
    if ctx.resolver is None:
        return Symbolic(f"[stack of {len(frames)} frames]", raw)
    return ctx.resolver.stack(T.StackType("user", t.limit, t.mode), raw, pid)


def check_ksym(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    an.int_arg(e, 0)
    return T.SymbolicInt(bits=64, signed=False, what="ksym")


def check_usym(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    an.int_arg(e, 0)
    return T.UserSymType()


def store_usym(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    """(address, pid): the symbol is looked up in user space, in the
    address space of the process that was running."""
    addr = lw.int_expr(e.args[0])
    lw.b.stx(8, dst.base, dst.off, addr.reg)
    lw.store_user_pid(dst.at(8, 8))


@decoder(T.UserSymType)
def decode_usym(t: T.UserSymType, data: bytes, off: int, ctx) -> Symbolic:
    """The symbol of (address, pid), in that process's address space as
    user space knows it (runtime.usyms), or the address."""
    from ..runtime.usyms import user_symbols
    addr = int.from_bytes(data[off:off + 8], "little")
    pid = int.from_bytes(data[off + 8:off + 16], "little")
    return Symbolic(user_symbols().format(pid, addr, show_offset=False), addr)


def check_kaddr(an, e: ast.Call) -> T.Type:
    """The address of a kernel symbol, from /proc/kallsyms: ``e.kaddr``."""
    an.nargs(e, 1)
    name = literal_text(an, e.args[0])
    if name is None:
        an.err("kaddr() expects a string literal", e.args[0].span)
    if an.final:
        from ..ksyms import kernel_symbols
        try:
            addr = kernel_symbols().lookup_name(name)
        except OSError:
            addr = None
        if not addr:
            an.err(f"Failed to resolve kernel symbol: {name}", e.span)
        e.kaddr = addr
    return T.UINT64


def lower_kaddr(lw, e: ast.Call) -> Int:
    r = lw.b.vreg()
    lw.b.mov(r, e.kaddr)
    return Int(r)


def check_uaddr(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    name = literal_text(an, e.args[0])
    if name is None:
        t = an.expr(e.args[0])
        an.err(f"uaddr() expects a string literal ({T.type_name(t)} provided)", e.span)
    # per expanded probe: the code generator lowers right after
    e.uaddr = resolve_uaddr(an.probe, name, e.span)
    return e.uaddr.type


def lower_uaddr(lw, e: ast.Call) -> Int:
    """sema.uaddr decided how: a constant, ip + a constant, or the
    running program's start of code + a constant."""
    how = e.uaddr
    b = lw.b
    r = b.vreg()
    if how.base == "ip":
        b.ldx(8, r, lw.ctx, REGS_IP)
        b.alu("add", r, how.value)
    elif how.base == "exe":
        program_address(lw, r, how)
    else:
        b.mov(r, how.value)
    return Int(r)


def program_address(lw, r: VReg, how) -> None:
    """r = current->mm->start_code + how.value if current->mm->exe_file
    is the file (inode how.inode), else 0."""
    b = lw.b
    mm_off, start_off, exe_off, inode_off, ino_off = how.kernel
    tmp = lw.stack_mem(8)

    def read(dst, src, off):
        b.st(8, tmp.base, tmp.off, 0)
        lw.addr(R1, tmp)
        b.mov(R2, 8)
        b.mov(R3, src)
        b.alu("add", R3, off)
        b.call("probe_read_kernel")
        b.ldx(8, dst, tmp.base, tmp.off)

    done = b.label("uaddr_done")
    b.call("get_current_task")
    mm, p = b.vreg(), b.vreg()
    b.mov(p, R0)
    read(mm, p, mm_off)
    read(p, mm, exe_off)
    read(p, p, inode_off)
    read(p, p, ino_off)
    b.mov(r, 0)
    b.jcond("ne", p, how.inode, done)
    read(r, mm, start_off)
    b.alu("add", r, how.value)
    b.place(done)


def check_percpu_kaddr(an, e: ast.Call) -> T.Type:
    """The address of a per-CPU kernel variable on this CPU, or on the
    given one (0 when there is no such CPU)."""
    an.nargs(e, 1, 2)
    if not isinstance(e.args[0], ast.String):
        an.err("percpu_kaddr() expects a string literal", e.args[0].span)
    an.expr(e.args[0])
    if len(e.args) == 2:
        an.int_arg(e, 1)
    return T.PointerType(target="uint64")


def percpu_var(e: ast.Call, name: str) -> int:
    """The variable's BTF id, once it is known the verifier will find it."""
    from ..btf import load_vmlinux
    try:
        vid = load_vmlinux().find(name, "var")
    except Exception:  # noqa: BLE001 - no BTF: say so below
        vid = None
    if vid is None:
        raise SemanticError(f"percpu_kaddr: no per-CPU kernel variable named '{name}' "
                            "in the kernel's BTF", e.span)
    from ..ksyms import kernel_symbols
    try:
        listed = kernel_symbols().lookup_name(name) is not None
    except OSError:
        listed = False
    if not listed:
        # the verifier finds the variable through kallsyms
        raise SemanticError(f"percpu_kaddr: '{name}' is not in /proc/kallsyms: this "
                            "kernel lists no data symbols (CONFIG_KALLSYMS_ALL)", e.span)
    return vid


def lower_percpu_kaddr(lw, e: ast.Call) -> Int:
    """bpf_this_cpu_ptr, or bpf_per_cpu_ptr for a given CPU, of the
    per-CPU variable's BTF id."""
    b = lw.b
    vid = percpu_var(e, e.args[0].value)
    cpu = lw.int_expr(e.args[1]) if len(e.args) == 2 else None
    b.ld_btf_var(R1, vid)
    if cpu is None:
        b.call("this_cpu_ptr")
    else:
        b.mov(R2, cpu.reg)
        b.call("per_cpu_ptr")
    r = b.vreg()
    b.mov(r, R0)
    return Int(r)


def check_kptr(an, e: ast.Call) -> T.Type:
    """The same pointer, marked as one into kernel (kptr) or user (uptr)
    memory: str() and buf() then read it with that space's helper."""
    an.nargs(e, 1)
    t = an.int_arg(e, 0)
    target = t.target if isinstance(t, T.PointerType) else "void"
    return T.PointerType(target=target, user=e.name == "uptr", kernel=e.name == "kptr")


def check_reg(an, e: ast.Call) -> T.Type:
    """reg("name"): a register of the probed thread, by the name struct
    pt_regs gives it (ip, sp, di, r8, ...); kprobes and uprobes."""
    an.nargs(e, 1)
    a = e.args[0]
    if not isinstance(a, ast.String):
        an.err("reg() expects a string literal", a.span)
    an.expr(a)
    if an.probe.context != "regs":
        an.err(f"reg can not be used with \"{an.probe.provider}\" probes", e.span)
    if a.value not in PT_REGS:
        an.err(f"'{a.value}' is not a valid register on this architecture", a.span)
    return T.UINT64


def lower_reg(lw, e: ast.Call) -> Int:
    r = lw.b.vreg()
    lw.b.ldx(8, r, lw.ctx, PT_REGS[e.args[0].value])
    return Int(r)


register(
    BuiltinVar("kstack", check_stack_builtin, store=store_stack),
    BuiltinVar("ustack", check_stack_builtin, store=store_stack),
    BuiltinVar("func", check_func, store=store_func),
)

register(
    Function("kstack", check_stack, store=store_stack),
    Function("ustack", check_stack, store=store_stack),
    Function("dw_ustack", check_dw_ustack, store=store_dw_ustack),
    Function("ksym", check_ksym, lower=lower_argument),
    Function("usym", check_usym, store=store_usym),
    Function("kaddr", check_kaddr, lower=lower_kaddr),
    Function("uaddr", check_uaddr, lower=lower_uaddr),
    Function("percpu_kaddr", check_percpu_kaddr, lower=lower_percpu_kaddr),
    Function("kptr", check_kptr, lower=lower_argument),
    Function("uptr", check_kptr, lower=lower_argument),
    Function("reg", check_reg, lower=lower_reg),
    unsupported("unwatch"),  # watchpoints
)
