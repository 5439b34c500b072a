"""Builtins (values without parentheses): pid, comm, argN, retval, ppid,
USDT arguments, ...; functions are lowered by their records
(bpfscope.functions).

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

import os
import re

from ..arch.x86_64 import PT_REGS_X86_64, REGS_ARGS, REGS_RETVAL
from ..errors import SemanticError
from ..lang import ast
from ..sema import registry
from ..sema import types as T
from .insn import R0, R1, R2, R3, R10, VReg
from .loweringvalues import Int


class CallLowering:
    def builtin(self, e: ast.Builtin):
        b = self.b
        name = e.name
        r = b.vreg()
        simple = {"nsecs": "ktime_get_ns", "cpu": "get_smp_processor_id",
                  "cgroup": "get_current_cgroup_id", "rand": "get_prandom_u32",
                  "jiffies": "jiffies64", "curtask": "get_current_task",
                  "numaid": "get_numa_node_id"}
        if name in simple:
            b.call(simple[name])
            b.mov(r, R0)
        elif name in ("pid", "tid"):
            return registry.lookup(name).lower(self, ast.Call(e.span, name))
        elif name in ("uid", "gid", "username"):
            b.call("get_current_uid_gid")
            b.mov(r, R0)
            if name == "gid":
                b.alu("rsh", r, 32)
            else:
                b.mov(r, r, w=32)
        elif name == "elapsed":
            b.call("ktime_get_ns")
            b.mov(r, R0)
            start = b.vreg()
            b.mov(start, self.sc.start_ns)
            b.alu("sub", r, start)
        elif name == "cpid":
            b.mov(r, self.sc.an.cpid)
        elif name == "ctx":
            b.mov(r, self.ctx)
        elif name == "ppid":
            self.ppid(r, e)
        elif name == "ncpus":
            b.mov(r, os.cpu_count() or 1)
        elif name == "usermode":
            if e.mode == "regs":
                # the privilege level in the saved cs: 3 is user mode
                b.ldx(8, r, self.ctx, PT_REGS_X86_64["cs"])
                b.alu("and", r, 3)
                b.alu("add", r, 1)
                b.alu("rsh", r, 2)       # (cs & 3) == 3
            else:
                b.mov(r, 1 if e.mode == "user" else 0)
        elif name in ("comm", "probe", "func", "kstack", "ustack"):
            return self.mem_expr(e)
        elif name == "retval" and self.probe.arg("$retval") is not None:
            f = self.probe.arg("$retval")  # fexit: after the arguments
            b.ldx(8, r, self.ctx, f.offset)
            if f.size < 8:
                self.narrow(r, T.IntType(f.size * 8, f.signed))
        elif self.probe.layout.args == "slots" and re.fullmatch(r"arg\d+", name):
            b.ldx(8, r, self.ctx, 8 * int(name[3:]))  # u64 argument slots
        elif self.probe.layout.args == "usdt" and re.fullmatch(r"arg\d+", name):
            self.usdt_arg(r, self.probe.usdt_args[int(name[3:])])
        elif name == "retval" or re.fullmatch(r"s?arg\d+", name):
            off = REGS_RETVAL if name == "retval" else REGS_ARGS[int(name.lstrip("sarg"))]
            b.ldx(8, r, self.ctx, off)
        else:
            raise SemanticError(f"Builtin '{name}' is not supported yet", e.span)
        return Int(r)

    def usdt_arg(self, r: VReg, a):
        """A USDT argument from the registers of the traced thread."""
        b = self.b
        if a.kind == "const":
            b.mov(r, a.value)
            return
        if a.kind == "reg":
            b.ldx(8, r, self.ctx, a.reg)
            if a.byte_off:
                b.alu("rsh", r, 8 * a.byte_off)
        else:
            addr = b.vreg()
            b.mov(addr, a.disp)
            t = b.vreg()
            if a.base is not None:
                b.ldx(8, t, self.ctx, a.base)
                b.alu("add", addr, t)
            if a.index is not None:
                b.ldx(8, t, self.ctx, a.index)
                b.alu("mul", t, a.scale)
                b.alu("add", addr, t)
            tmp = self.stack_mem(8)
            b.st(8, R10, tmp.off, 0)
            self.addr(R1, tmp)
            b.mov(R2, a.size)
            b.mov(R3, addr)
            b.call("probe_read_user")
            b.ldx(8, r, R10, tmp.off)
        if a.size < 8:
            self.narrow(r, T.IntType(a.size * 8, a.signed))

    def ppid(self, r: VReg, e: ast.Expr):
        """current->real_parent->tgid, with the offsets the running kernel's
        BTF gives."""
        parent_off, tgid_off = e.kernel  # sema: from the kernel's BTF
        b = self.b
        tmp = self.stack_mem(8)
        b.call("get_current_task")
        task = b.vreg()
        b.mov(task, R0)
        for ptr, off, size in ((task, parent_off, 8), (None, tgid_off, 4)):
            src = task if ptr is not None else r
            b.st(8, R10, tmp.off, 0)
            self.addr(R1, tmp)
            b.mov(R2, size)
            b.mov(R3, src)
            b.alu("add", R3, off)
            b.call("probe_read_kernel")
            b.ldx(size, r, R10, tmp.off)
