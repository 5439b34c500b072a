"""The probe context's builtin variables: ctx, arg0..N, sarg0..N, retval,
args, probe (the probe's name) and usermode.

What argN, retval and args mean is the probe's ``ContextLayout``
(sema.probes), which its provider chose: pt_regs registers, u64 slots
(raw tracepoints, fentry), USDT operands, or none.
"""

from __future__ import annotations

import platform

from ..arch.x86_64 import PT_REGS_X86_64, REGS_ARGS, REGS_RETVAL
from ..codegen.insn import R1, R2, R3, R10, VReg
from ..codegen.loweringvalues import Int
from ..lang import ast
from ..sema import types as T
from ..sema.registry import BuiltinVar, register
from .common import store_text


def check_ctx(an, e: ast.Builtin) -> T.Type:
    p = an.probe
    t = an.types.named(p.layout.ctx_type) if p.layout.ctx_type else None
    if t is None:
        an.err(f"The ctx builtin can not be used with '{p.provider}' probes", e.span)
        return T.UINT64
    return t


def lower_ctx(lw, e: ast.Builtin) -> Int:
    r = lw.b.vreg()
    lw.b.mov(r, lw.ctx)
    return Int(r)


def check_regs(an, e: ast.Builtin) -> T.Type:
    """argN, sargN and retval read from the pt_regs of the context."""
    p, name = an.probe, e.name
    if p.layout.args != "regs":
        an.err(f"The {name} builtin can not be used with '{p.provider}' probes", e.span)
    if name == "retval" and not p.is_return:
        an.err("The retval builtin can only be used with return probes", e.span)
    if name != "retval" and p.is_return:
        an.err(f"The {name} builtin can not be used with return probes", e.span)
    if name.startswith("arg") and int(name[3:]) >= len(REGS_ARGS):
        an.err(f"{name}: only arg0 to arg{len(REGS_ARGS) - 1} are passed in "
               "registers", e.span)
    return T.INT64 if name == "retval" else T.UINT64


def check_arg(an, e: ast.Builtin) -> T.Type:
    p, name = an.probe, e.name
    n = int(name[3:])
    if p.layout.args == "usdt":
        args = p.usdt_args
        if n >= len(args):
            an.err(f"{p.name} has {len(args)} argument"
                   f"{'' if len(args) == 1 else 's'}: {name} is not one of them", e.span)
        return T.IntType(args[n].size * 8, args[n].signed)
    if p.layout.args == "slots":
        # untyped (a raw tracepoint without BTF): the kernel checks the count at attach
        count = (p.layout.max_args if p.args is None
                 else sum(1 for a in p.args if a.name != "$retval"))
        if n >= count:
            an.err(f"{name}: {p.func or p.name} has {count} arguments", e.span)
        return T.UINT64
    return check_regs(an, e)


def lower_arg(lw, e: ast.Builtin) -> Int:
    b = lw.b
    r = b.vreg()
    n = int(e.name[3:])
    if lw.probe.layout.args == "slots":
        b.ldx(8, r, lw.ctx, 8 * n)  # u64 argument slots
    elif lw.probe.layout.args == "usdt":
        usdt_arg(lw, r, lw.probe.usdt_args[n])
    else:
        b.ldx(8, r, lw.ctx, REGS_ARGS[n])
    return Int(r)


def lower_sarg(lw, e: ast.Builtin) -> Int:
    """sargN: the Nth 8-byte stack slot above the return address, where
    the x86-64 calling convention passes the arguments after the sixth
    (read from the traced thread's stack: user memory in user probes)."""
    b = lw.b
    r = b.vreg()
    tmp = lw.stack_mem(8)
    b.st(8, R10, tmp.off, 0)
    lw.addr(R1, tmp)
    b.mov(R2, 8)
    b.ldx(8, R3, lw.ctx, PT_REGS_X86_64["rsp"])
    b.alu("add", R3, 8 * (int(e.name[4:]) + 1))
    b.call("probe_read_user" if lw.probe.layout.user else "probe_read_kernel")
    b.ldx(8, r, R10, tmp.off)
    return Int(r)


def usdt_arg(lw, r: VReg, a) -> None:
    """A USDT argument from the registers of the traced thread."""
    b = lw.b
    if a.kind == "const":
        b.mov(r, a.value)
        return
    if a.kind == "reg":
        b.ldx(8, r, lw.ctx, a.reg)
        if a.byte_off:
            b.alu("rsh", r, 8 * a.byte_off)
    else:
        addr = b.vreg()
        b.mov(addr, a.disp)
        t = b.vreg()
        if a.base is not None:
            b.ldx(8, t, lw.ctx, a.base)
            b.alu("add", addr, t)
        if a.index is not None:
            b.ldx(8, t, lw.ctx, a.index)
            b.alu("mul", t, a.scale)
            b.alu("add", addr, t)
        tmp = lw.stack_mem(8)
        b.st(8, R10, tmp.off, 0)
        lw.addr(R1, tmp)
        b.mov(R2, a.size)
        b.mov(R3, addr)
        b.call("probe_read_user")
        b.ldx(8, r, R10, tmp.off)
    if a.size < 8:
        lw.narrow(r, T.IntType(a.size * 8, a.signed))


def check_retval(an, e: ast.Builtin) -> T.Type:
    an.debug_args()
    f = an.probe.arg("$retval")
    if f is not None:  # fexit
        if f.kind == "bool":
            return T.BOOL
        return T.IntType(f.size * 8, f.signed) if f.kind == "int" else T.UINT64
    return check_regs(an, e)


def lower_retval(lw, e: ast.Builtin) -> Int:
    b = lw.b
    r = b.vreg()
    f = lw.probe.arg("$retval")
    if f is not None:  # fexit: after the arguments
        b.ldx(8, r, lw.ctx, f.offset)
        if f.size < 8:
            lw.narrow(r, T.IntType(f.size * 8, f.signed))
    else:
        b.ldx(8, r, lw.ctx, REGS_RETVAL)
    return Int(r)


def check_args(an, e: ast.Builtin) -> T.Type:
    """``args.NAME`` (analyser.field marks the node) or ``args`` as a
    value, the record of its fields."""
    an.debug_args()
    p = an.probe
    if not p.args:
        an.err(f"The args builtin can not be used with '{p.provider}' probes", e.span)
    if an.args_field is e:
        an.args_field = None
        return T.ArgsType(p.name)
    return an.args_record(e)


def store_args(lw, e: ast.Builtin, dst, t: T.Type) -> None:
    """``args`` as a value: each field as ``args.NAME`` reads it."""
    for fa, et, off in zip(e.record, t.elems, t.offsets):
        lw.store(fa, dst.at(off, T.align8(et.size)), et)


def check_probe(an, e: ast.Builtin) -> T.Type:
    return T.StringType(len(an.probe.name.encode()) + 1)


def check_usermode(an, e: ast.Builtin) -> T.Type:
    """Whether the probe fired in user mode: from the saved cs where the
    context has pt_regs, else known when the script compiles."""
    if platform.machine() != "x86_64":
        an.err("'usermode' builtin is only supported on x86_64", e.span)
    p = an.probe
    if p.context in ("regs", "usdt") or p.program_type() == "perf_event":
        e.mode = "regs"   # pt_regs (perf_event data starts with them)
    else:
        e.mode = "user" if p.layout.fires_in_user else "kernel"
    return T.UINT8


def lower_usermode(lw, e: ast.Builtin) -> Int:
    b = lw.b
    r = b.vreg()
    if e.mode == "regs":
        # the privilege level in the saved cs: 3 is user mode
        b.ldx(8, r, lw.ctx, PT_REGS_X86_64["cs"])
        b.alu("and", r, 3)
        b.alu("add", r, 1)
        b.alu("rsh", r, 2)       # (cs & 3) == 3
    else:
        b.mov(r, 1 if e.mode == "user" else 0)
    return Int(r)


register(
    BuiltinVar("ctx", check_ctx, lower=lower_ctx),
    BuiltinVar(r"arg\d+", check_arg, lower=lower_arg, pattern=True, reads_args=True),
    BuiltinVar(r"sarg\d+", check_regs, lower=lower_sarg, pattern=True,
               reads_args=True),
    BuiltinVar("retval", check_retval, lower=lower_retval, reads_args=True),
    BuiltinVar("args", check_args, store=store_args, reads_args=True),
    BuiltinVar("probe", check_probe, store=store_text(lambda probe: probe.name)),
    BuiltinVar("usermode", check_usermode, lower=lower_usermode),
)
