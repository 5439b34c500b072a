"""Writing string, tuple, stack and other memory values where they are
needed (map keys, records, variables) and finding where values already are.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations


from ..errors import SemanticError
from ..lang import ast
from ..lang.printer import expr_source
from ..sema import registry
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4
from .loweringvalues import Int, Mem
from .stackids import EFAULT, stack_map_name


class StoreLowering:
    def store(self, e: ast.Expr, dst: Mem, t: T.Type):
        """Evaluate ``e`` into ``dst``, which holds a value of type ``t``."""
        b = self.b
        if isinstance(e, ast.BlockExpr):
            self.block(e.stmts)
            return self.store(e.value, dst, t)
        f = self.store_record(e)
        if f is not None and not t.is_int():
            return f.store(self, e, dst, t)
        if t.is_int():
            v = self.int_expr(e)
            b.stx(8, dst.base, dst.off, v.reg)
            return
        if isinstance(t, T.StringType):
            return self.store_string(e, dst, t.length)
        if isinstance(t, T.StructType) or isinstance(t, T.ArrayType) and (
                self.is_typed_access(e) or isinstance(e, ast.Cast)):
            if isinstance(e, (ast.Map, ast.Ternary)):
                return self.store_copy(e, dst, t)
            return self.store_typed(e, dst, t)
        if isinstance(t, T.ArrayType):
            return self.store_array(e, dst, t)
        if isinstance(t, T.BufferType):
            return self.store_copy(e, dst, t)
        if isinstance(t, T.StackType):
            if isinstance(e, ast.Map):
                return self.map_read_mem(e, dst, t)
            return self.copy(dst, self.mem_place(e), t.size)
        if isinstance(t, T.TupleType):
            if isinstance(e, ast.Tuple):
                for x, et, off in zip(e.elems, t.elems, t.offsets):
                    self.store(x, dst.at(off, T.align8(et.size)), et)
                return
            if isinstance(e, ast.Record):
                # fields evaluated as written, each stored where the type
                # (perhaps another order of the same fields) has it
                for i, (name, x) in enumerate(e.fields):
                    j = t.names.index(name) if t.names else i
                    self.store(x, dst.at(t.offsets[j], T.align8(t.elems[j].size)), t.elems[j])
                return
            if isinstance(e, ast.Map):
                return self.map_read_mem(e, dst, t)
            if isinstance(e, ast.Ternary):
                return self.store_branches(e, dst, t)
            src = self.mem_place(e)
            if e.type == t:
                self.copy(dst, src, t.size)
            else:
                # same shape, wider strings, or a record's fields in another
                # order: element by element
                st = e.type
                order = [st.names.index(n) for n in t.names] if t.names and st.names \
                    else range(len(t.elems))
                for i, et, do in zip(order, t.elems, t.offsets):
                    et_src, so = st.elems[i], st.offsets[i]
                    if et.is_int():
                        self.copy(dst.at(do, 8), src.at(so, 8), 8)
                    else:
                        self.zero(dst.at(do, T.align8(et.size)))
                        self.copy(dst.at(do, et.size), src.at(so, et_src.size),
                                  min(et.size, et_src.size))
            return
        if isinstance(e, (ast.Variable, ast.Map, ast.Ternary, ast.FieldAccess, ast.Index)):
            # a value some writer already made (ntop/usym/... in a variable)
            return self.store_copy(e, dst, t)
        raise SemanticError(f"Cannot store a value of type {t}", e.span)

    @staticmethod
    def store_record(e: ast.Expr):
        """The record of the function or builtin variable ``e`` when it
        writes its value into memory itself (bpfscope.functions)."""
        if isinstance(e, ast.Call):
            f = registry.lookup(e.name)
        elif isinstance(e, ast.Builtin):
            f = registry.builtin(e.name)
        else:
            return None
        return f if f is not None and f.store is not None else None

    def store_string(self, e: ast.Expr, dst: Mem, length: int):
        b = self.b
        if isinstance(e, ast.String):
            data = ast.string_bytes(e.value)[:length - 1]
            data = data.ljust(dst.size, b"\0")
            for off in range(0, dst.size - 3, 4):
                b.st(4, dst.base, dst.off + off,
                     int.from_bytes(data[off:off + 4], "little", signed=True))
            return
        if isinstance(e, ast.PositionalParam):
            # str($1) is the parameter's text, whatever it looks like
            params = self.sc.an.params
            text = params[e.index - 1] if e.index <= len(params) else ""
            return self.store_string(ast.String(e.span, text), dst, length)
        f = self.store_record(e)
        if f is not None:  # str(), str_concat(), comm, probe
            return f.store(self, e, dst, T.StringType(length))
        if isinstance(e, ast.FieldAccess) and isinstance(e.expr.type, T.ArgsType):
            return self.store_arg_string(e, dst, length)
        if self.is_typed_access(e):
            return self.store_typed(e, dst, T.StringType(length))
        if isinstance(e, ast.Map):
            return self.map_read_mem(e, dst, e.type)
        if isinstance(e, ast.Ternary):
            return self.store_branches(e, dst, T.StringType(length))
        src = self.mem_place(e)
        # A shorter destination keeps its last byte for the terminating NUL.
        # (The source's own length, not its 8-byte aligned slot: a char[5]
        # of five chars is copied whole into a string[5].)
        have = e.type.length if isinstance(e.type, T.StringType) else src.size
        have = min(have, src.size)
        n = min(have, length - 1 if have > length else length)
        if dst.size > n:
            self.zero(dst)
        self.copy(dst, src, n)

    def ctx_field(self, e: ast.Expr):
        """The ArgField when ``e`` is ``args.x``, else None."""
        if isinstance(e, ast.FieldAccess) and isinstance(e.expr.type, T.ArgsType):
            return self.probe.arg(e.field)
        return None

    BPF_F_USER_STACK = 1 << 8
    BPF_F_USER_BUILD_ID = 1 << 11

    def stack_flags(self, t: T.StackType) -> int:
        """bpf_get_stack's flags for a stack of type t."""
        if t.kind != "user":
            return 0
        if t.mode == "build_id":
            return self.BPF_F_USER_STACK | self.BPF_F_USER_BUILD_ID
        return self.BPF_F_USER_STACK

    def store_stack(self, t: T.StackType, dst: Mem, span=None):
        """The frames from bpf_get_stack, at most ``t.limit`` of them (the
        kernel walks no further and zeroes the rest), after their count
        and, for a user stack, the pid whose address space gives them
        meaning (see sema.types.StackType). A failed walk leaves an empty
        stack and is counted at its place in the script."""
        b = self.b
        if t.ids:
            return self.store_stack_id(t, dst, span)
        nr = b.vreg()
        b.mov(nr, 0)
        if t.limit:
            b.mov(R1, self.ctx)
            self.addr(R2, dst.at(t.header, t.elem * t.limit))
            b.mov(R3, t.elem * t.limit)
            b.mov(R4, self.stack_flags(t))
            b.call("get_stack")
            b.mov(nr, R0)
            ok = b.label("stack_ok")
            b.jcond("sge", nr, 0, ok)
            b.mov(nr, 0)  # the kernel zeroed the frames
            self.count_lost(self.sc.drop_site("stack", str(t), span))
            b.place(ok)
            b.alu("rsh", nr, t.elem.bit_length() - 1)
        b.stx(8, dst.base, dst.off, nr)
        if t.kind == "user":
            self.store_user_pid(dst.at(8, 8))

    def store_stack_id(self, t: T.StackType, dst: Mem, span=None):
        """The stack's id in its stack-trace map (codegen.stackids), and
        for a user stack the pid. A stack that got no id (its bucket holds
        another stack, or the map is full) sets ``stackid_failed`` for the
        caller to take copies. -EFAULT is the id of the empty stack: the
        kernel gives it both for no frames (a kernel thread has no user
        stack) and for a walk that failed (one already running in this
        context); bpf_get_stack, asked for one frame, tells them apart, and
        a failed walk is counted at its place as store_stack counts it."""
        b = self.b
        b.mov(R1, self.ctx)
        b.ld_map_fd(R2, stack_map_name(t))
        b.mov(R3, self.BPF_F_USER_STACK if t.kind == "user" else 0)
        b.call("get_stackid")
        sid = b.vreg()
        b.mov(sid, R0)
        ok, empty = b.label("stackid_ok"), b.label("stackid_empty")
        b.jcond("sge", sid, 0, ok)
        b.jcond("eq", sid, -EFAULT, empty)
        b.mov(self.stackid_failed, 1)
        b.ja(ok)
        b.place(empty)
        b.mov(R1, self.ctx)
        self.addr(R2, dst.at(0, 8))
        b.mov(R3, 8)
        b.mov(R4, self.BPF_F_USER_STACK if t.kind == "user" else 0)
        b.call("get_stack")
        b.jcond("sge", R0, 0, ok)
        self.count_lost(self.sc.drop_site("stack", str(t), span))
        b.place(ok)
        b.stx(8, dst.base, dst.off, sid)
        if t.kind == "user":  # the caller notes it (note_key_pids)
            self.store_user_pid(dst.at(8, 8), note=False)

    def store_user_pid(self, dst: Mem, note: bool = True):
        """The current process's pid, whose address space gives the user
        addresses stored beside it (a user stack, usym) their meaning."""
        b = self.b
        b.call("get_current_pid_tgid")
        pid = b.vreg()
        b.mov(pid, R0)
        b.alu("rsh", pid, 32)
        b.stx(8, dst.base, dst.off, pid)
        self.sc.user_addresses()
        if note:
            self.note_pid(pid)

    def store_copy(self, e: ast.Expr, dst: Mem, t: T.Type):
        """A value already made elsewhere (a variable, a map, a branch),
        perhaps in less room than ``t`` has: the rest is zeroed."""
        if isinstance(e, ast.Map):
            return self.map_read_mem(e, dst, t)
        if isinstance(e, ast.Ternary):
            return self.store_branches(e, dst, t)
        src = self.mem_place(e)
        if src.size < t.size:
            self.zero(dst)
        self.copy(dst, src, min(src.size, t.size))

    def store_branches(self, e: ast.Ternary, dst: Mem, t: T.Type):
        b = self.b
        els, end = b.label(), b.label()
        self.branch_false(e.cond, els)
        self.store(e.then, dst, t)
        b.ja(end)
        b.place(els)
        self.store(e.orelse, dst, t)
        b.place(end)

    def mem_place(self, e: ast.Expr) -> Mem:
        """Where a string or tuple value already is in memory: a variable or
        an element of one. Anything else must be stored by a writer."""
        if isinstance(e, (ast.Variable, ast.FieldAccess, ast.Index, ast.InlineCall)):
            v = self.value(e)
            if isinstance(v, Mem):
                return v
        raise SemanticError(f"{type(e).__name__} of type '{e.type}' can not be used here yet",
                            e.span)

    def count_cut(self, ptr, n: int, ptr_type: T.Type, site: int, byte: Mem | None = None):
        """After a string read of ``n`` bytes: when it filled the buffer
        and the source has a byte other than NUL where the NUL went, the
        string was cut, and its place in the script (drop ``site``)
        counts one. ``byte``: an 8-byte stack slot free for the check."""
        b = self.b
        res = b.vreg()
        b.mov(res, R0)
        whole = b.label("str_whole")
        b.jcond("ne", res, n, whole)
        byte = byte or self.stack_mem(8)
        b.st(8, byte.base, byte.off, 0)
        self.addr(R1, byte)
        b.mov(R2, 1)
        b.mov(R3, ptr.reg)
        b.alu("add", R3, n - 1)
        b.call(self.read_helper(ptr_type))
        c = b.vreg()
        b.ldx(1, c, byte.base, byte.off)
        b.jcond("eq", c, 0, whole)
        self.count_lost(site)
        b.place(whole)

    def read_helper(self, ptr_type: T.Type, string: bool = False) -> str:
        """The helper that reads what an address points to. User memory in
        user-space probes and through pointers known to be user pointers;
        elsewhere the address itself decides: a kprobe's or fentry's
        ``char *`` argument may point into the caller's user memory (a
        syscall's path) or into the kernel, and bpf_probe_read[_str] picks
        by the address on x86-64, whose address spaces do not overlap."""
        user = isinstance(ptr_type, T.PointerType) and ptr_type.user
        if isinstance(ptr_type, T.PointerType) and ptr_type.kernel:
            name = "probe_read_kernel"
        elif user or self.probe.layout.user:
            name = "probe_read_user"
        else:
            name = "probe_read"
        return name + "_str" if string else name

    def runtime_str_size(self, e: ast.Expr, length: int) -> Int:
        """str(p, len) with len computed as the probe runs (SSL_write's
        arg2): len + 1 bytes with the NUL, clamped to [1, length] so the
        verifier sees a bounded size (compared unsigned, so a negative len
        below -1 reads the most)."""
        b = self.b
        n = b.vreg()
        b.mov(n, self.int_expr(e).reg)
        b.alu("add", n, 1)
        fits, nonzero = b.label("str_fits"), b.label("str_nonzero")
        b.jcond("le", n, length, fits)  # unsigned: a negative len is huge
        b.mov(n, length)
        b.place(fits)
        b.jcond("ne", n, 0, nonzero)
        b.mov(n, 1)
        b.place(nonzero)
        return Int(n)

    def store_arg_string(self, e: ast.FieldAccess, dst: Mem, length: int):
        b = self.b
        f = self.probe.arg(e.field)
        if f.kind == "char_array":
            n = min(f.size, length - 1 if f.size > length else length)
            if dst.size > n:
                self.zero(dst)
            self.copy_from_ctx(dst, f.offset, n)
            return
        # __data_loc: a u32 with the string's offset in the low 16 bits
        loc = b.vreg()
        b.ldx(4, loc, self.ctx, f.offset)
        b.alu("and", loc, 0xFFFF)
        p = b.vreg()
        b.mov(p, self.ctx)
        b.alu("add", p, loc)
        self.zero(dst)
        self.addr(R1, dst)
        b.mov(R2, length)
        b.mov(R3, p)
        b.call("probe_read_kernel_str")
        if length == self.sc.an.max_strlen:
            site = self.sc.drop_site("strcut", expr_source(e), e.span)
            self.count_cut(Int(p), length, T.PointerType(kernel=True), site)

    def copy_from_ctx(self, dst: Mem, off: int, n: int):
        self.copy_chunks(dst, self.ctx, off, n)

    def mem_expr(self, e: ast.Expr) -> Mem:
        """A string or tuple value in memory (a variable, or a fresh temp)."""
        if isinstance(e, (ast.Variable, ast.FieldAccess, ast.Index)) and \
                not isinstance(getattr(e, "expr", None) and e.expr.type, T.ArgsType):
            return self.mem_place(e)
        m = self.stack_mem(e.type.size)
        self.store(e, m, e.type)
        return Mem(m.base, m.off, e.type.size)
