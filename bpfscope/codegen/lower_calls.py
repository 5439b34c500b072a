"""Builtins and functions that give a value: pid, comm, argN, ppid, USDT
arguments, has_key, strlen, strncmp, strcontains, nsecs(clock), ...

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

import os
import re

from ..arch.x86_64 import PT_REGS, REGS_ARGS, REGS_IP, REGS_RETVAL
from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4, R10, VReg
from .loweringvalues import Int


class CallLowering:
    VALUE_CALLS = {"has_key", "strlen", "strncmp", "strcontains", "nsecs", "strftime",
                   "strerror", "ksym", "kaddr", "uaddr", "strstr", "bswap", "signal_name",
                   "len", "cgroupid", "kptr", "uptr", "pid", "tid", "reg", "percpu_kaddr",
                   "socket_cookie"}

    def call_strerror(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[0])  # printed as text in user space

    call_ksym = call_strerror

    def call_kaddr(self, e: ast.Call) -> Int:
        from ..ksyms import kernel_symbols
        name = e.args[0].value
        try:
            addr = kernel_symbols().lookup_name(name)
        except OSError:
            addr = None
        if not addr:
            raise SemanticError(f"Failed to resolve kernel symbol: {name}", e.span)
        r = self.b.vreg()
        self.b.mov(r, addr)
        return Int(r)

    def call_uaddr(self, e: ast.Call) -> Int:
        """sema.uaddr decided how: a constant, ip + a constant, or the
        running program's start of code + a constant."""
        how = e.uaddr
        b = self.b
        r = b.vreg()
        if how.base == "ip":
            b.ldx(8, r, self.ctx, REGS_IP)
            b.alu("add", r, how.value)
        elif how.base == "exe":
            self.program_address(r, how)
        else:
            b.mov(r, how.value)
        return Int(r)

    def program_address(self, r: VReg, how) -> None:
        """r = current->mm->start_code + how.value if current->mm->exe_file
        is the file (inode how.inode), else 0."""
        b = self.b
        mm_off, start_off, exe_off, inode_off, ino_off = how.kernel
        tmp = self.stack_mem(8)

        def read(dst, src, off):
            b.st(8, tmp.base, tmp.off, 0)
            self.addr(R1, tmp)
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

    def call_cgroupid(self, e: ast.Call) -> Int:
        """The cgroup v2 id of a directory: its inode number (kernfs ids
        are the inode numbers on 64-bit kernels)."""
        path = e.args[0].value
        try:
            cgid = os.stat(path).st_ino
        except OSError as err:
            raise SemanticError(f"cgroupid: Failed to get cgroup id for path '{path}': "
                                f"{err.strerror}", e.span) from None
        r = self.b.vreg()
        self.b.mov(r, cgid)
        return Int(r)

    def call_reg(self, e: ast.Call) -> Int:
        r = self.b.vreg()
        self.b.ldx(8, r, self.ctx, PT_REGS[e.args[0].value])
        return Int(r)

    def call_percpu_kaddr(self, e: ast.Call) -> Int:
        """bpf_this_cpu_ptr, or bpf_per_cpu_ptr for a given CPU, of the
        per-CPU variable's BTF id."""
        from ..btf import load_vmlinux
        b = self.b
        name = e.args[0].value
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
        cpu = self.int_expr(e.args[1]) if len(e.args) == 2 else None
        b.ld_btf_var(R1, vid)
        if cpu is None:
            b.call("this_cpu_ptr")
        else:
            b.mov(R2, cpu.reg)
            b.call("per_cpu_ptr")
        r = b.vreg()
        b.mov(r, R0)
        return Int(r)

    def call_socket_cookie(self, e: ast.Call) -> Int:
        sk = self.int_expr(e.args[0])  # still the verifier's typed pointer
        self.b.mov(R1, sk.reg)
        self.b.call("get_socket_cookie")
        r = self.b.vreg()
        self.b.mov(r, R0)
        return Int(r)

    def call_kptr(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[0])  # only the type says where it points

    call_uptr = call_kptr

    PROC_PID_INIT_INO = 0xEFFFFFFC  # the initial pid namespace's inode

    def call_pid(self, e: ast.Call) -> Int:
        """pid()/tid() as seen from the initial pid namespace, or from
        bpfscope's own when that is another (bpf_get_ns_current_pid_tgid)."""
        b = self.b
        r = b.vreg()
        try:
            ns = os.stat("/proc/self/ns/pid")
        except OSError:  # no /proc: take the namespace to be the initial one
            ns = None
        if e.args and e.args[0].name == "init" or ns is None or \
                ns.st_ino == self.PROC_PID_INIT_INO:
            b.call("get_current_pid_tgid")
            b.mov(r, R0)
            if e.name == "pid":
                b.alu("rsh", r, 32)
            else:
                b.mov(r, r, w=32)
            return Int(r)
        buf = self.stack_mem(8)
        b.st(8, R10, buf.off, 0)
        b.mov(R1, ns.st_dev)
        b.mov(R2, ns.st_ino)
        self.addr(R3, buf)
        b.mov(R4, 8)
        b.call("get_ns_current_pid_tgid")
        # struct bpf_pidns_info { u32 pid; u32 tgid; }: tgid is bpftrace's pid
        b.ldx(4, r, R10, buf.off + (4 if e.name == "pid" else 0))
        return Int(r)

    call_tid = call_pid

    def call_has_key(self, e: ast.Call) -> Int:
        m = e.args[0]
        keys = e.args[1:]
        if len(keys) == 1 and isinstance(keys[0], ast.Tuple) and len(self.sc.maps[m.ident].key.elems) > 1:
            keys = keys[0].elems
        key = self.map_key(m, list(keys))
        p = self.lookup(m.ident, key)
        r = self.b.vreg()
        self.b.mov(r, 1)
        done = self.b.label()
        self.b.jcond("ne", p, 0, done)
        self.b.mov(r, 0)
        self.b.place(done)
        return Int(r)

    def call_strlen(self, e: ast.Call) -> Int:
        """Bytes before the first NUL, unrolled over the buffer."""
        b = self.b
        s = self.mem_expr(e.args[0])
        n, x = b.vreg(), b.vreg()
        done = b.label("strlen")
        b.mov(n, 0)
        for i in range(s.size):
            b.ldx(1, x, s.base, s.off + i)
            b.jcond("eq", x, 0, done)
            b.alu("add", n, 1)
        b.place(done)
        return Int(n)

    def call_strncmp(self, e: ast.Call) -> Int:
        """0 when the first ``n`` bytes (up to a shared NUL) are equal, else 1."""
        a, c = self.mem_expr(e.args[0]), self.mem_expr(e.args[1])
        n = min(self.sc.an.const_int(e.args[2], "strncmp"), a.size, c.size)
        return self.compare_bytes(a, c, n, 0, 1)

    def call_strcontains(self, e: ast.Call) -> Int:
        """strstr(...) >= 0 where the kernel has bpf_strnstr or the needle
        is computed; else a naive search for the literal needle at every
        start position (straight code: 9 instructions a byte of haystack)."""
        b = self.b
        if not isinstance(e.args[1], ast.String) or self.kfunc_id("bpf_strnstr") is not None:
            r = self.call_strstr(e).reg
            b.alu("rsh", r, 63)     # 1 when -1 (not found), else 0
            b.alu("xor", r, 1)
            return Int(r)
        hay = self.mem_expr(e.args[0])
        needle = ast.string_bytes(e.args[1].value)
        r, x = b.vreg(), b.vreg()
        yes, done = b.label("found"), b.label()
        b.mov(r, 0)
        if not needle:
            b.ja(yes)
        for start in range(0, hay.size - len(needle) + 1 if needle else 0):
            nxt = b.label()
            # a NUL before this position ends the haystack
            if start:
                b.ldx(1, x, hay.base, hay.off + start - 1)
                b.jcond("eq", x, 0, done)
            for j, ch in enumerate(needle):
                b.ldx(1, x, hay.base, hay.off + start + j)
                b.jcond("ne", x, ch, nxt)
            b.ja(yes)
            b.place(nxt)
        b.ja(done)
        b.place(yes)
        b.mov(r, 1)
        b.place(done)
        return Int(r)

    def call_nsecs(self, e: ast.Call) -> Int:
        from ..sema.analyzer import CLOCKS
        r = self.b.vreg()
        self.b.call(CLOCKS[e.args[0].name] if e.args else "ktime_get_ns")
        self.b.mov(r, R0)
        return Int(r)

    def call_strftime(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[1])

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
            return self.call_pid(ast.Call(e.span, name))
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
        elif name == "ppid":
            self.ppid(r, e)
        elif name == "ncpus":
            b.mov(r, os.cpu_count() or 1)
        elif name in ("comm", "probe", "func", "kstack", "ustack"):
            return self.mem_expr(e)
        elif name == "retval" and self.probe.arg("$retval") is not None:
            f = self.probe.arg("$retval")  # fexit: after the arguments
            b.ldx(8, r, self.ctx, f.offset)
            if f.size < 8:
                self.narrow(r, T.IntType(f.size * 8, f.signed))
        elif self.probe.context == "record" and re.fullmatch(r"arg\d+", name):
            b.ldx(8, r, self.ctx, 8 * int(name[3:]))  # fentry: u64 argument slots
        elif self.probe.context == "usdt" and re.fullmatch(r"arg\d+", name):
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
        from ..btf import load_vmlinux
        try:
            btf = load_vmlinux()
            parent_off = btf.offsetof("struct task_struct", "real_parent")
            tgid_off = btf.offsetof("struct task_struct", "tgid")
        except Exception as err:  # noqa: BLE001 - any BTF failure: say so
            raise SemanticError(f"ppid needs the kernel's BTF: {err}", e.span) from None
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
