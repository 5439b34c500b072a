"""Values made of raw bytes: buf(), and the functions that build byte
arrays (pton, macaddr) or new strings (str_concat).

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from .insn import R0, R1, R2, R3, R4
from .loweringvalues import Int, Mem


class BytesLowering:
    def bounded_length(self, e: ast.Expr, cap: int, site: int = 0) -> Int:
        """A length computed at run time, made at most ``cap`` (unsigned, so
        a negative one is ``cap`` too): the verifier must see the bound
        before the length reaches a read helper. Each cut counts in drop
        ``site`` when one is given."""
        b = self.b
        n = b.vreg()
        b.mov(n, self.int_expr(e).reg)
        ok = b.label("len_ok")
        b.jcond("le", n, cap, ok)
        if site:
            self.count_lost(site)
        b.mov(n, cap)
        b.place(ok)
        return Int(n)

    def store_buf(self, e: ast.Call, dst: Mem, t: T.BufferType):
        """(count, bytes) for buf(src [, length]): from a tracepoint array
        field or a string by copying, from a pointer with the read helper
        of its address space."""
        b = self.b
        src, cap = e.args[0], t.length
        fixed = None if len(e.args) == 2 and not isinstance(e.args[1], ast.Integer) else cap
        self.zero(dst)
        data = dst.at(8, cap)
        f = self.ctx_field(src)
        site = self.buf_cut_site(e, f, cap, fixed is None)
        if fixed is not None and f is not None and f.kind == "array":
            self.copy_from_ctx(data, f.offset, cap)
        elif fixed is not None and src.type.is_string():
            self.copy(data, self.mem_expr(src), cap)
        else:
            n = self.bounded_length(e.args[1], cap, site).reg if fixed is None else cap
            if f is not None and f.kind == "array":
                where, helper = self.ctx, "probe_read_kernel"
                off = f.offset
            elif src.type.is_string():
                m = self.mem_expr(src)
                where, helper, off = m.base, "probe_read_kernel", m.off
            else:
                where = self.int_expr(src).reg
                helper = self.read_helper(src.type)
                off = 0
            self.addr(R1, data)
            b.mov(R2, n)
            b.mov(R3, where)
            if off:
                b.alu("add", R3, off)
            b.call(helper)
            if fixed is None:
                b.stx(8, dst.base, dst.off, n)
                return
        b.st(8, dst.base, dst.off, cap)

    def buf_cut_site(self, e: ast.Call, f, cap: int, runtime: bool) -> int:
        """The drop site counting buf() values cut at max_strlen (0: none
        can be). A fixed length or source larger than max_strlen cuts every
        value, counted here; a run-time length is counted when it is cut."""
        strlen = self.sc.an.max_strlen
        if cap != strlen:
            return 0
        src = e.args[0]
        sizes = [e.args[1].value] if len(e.args) == 2 and not runtime else []
        if f is not None and f.kind == "array":
            sizes.append(f.size)
        elif src.type.is_string():
            sizes.append(src.type.size)
        if not runtime and not (sizes and min(sizes) > strlen):
            return 0
        site = self.sc.drop_site("strcut", "buf", e.span)
        if not runtime:
            self.count_lost(site)
        return site

    def store_array(self, e: ast.Expr, dst: Mem, t: T.ArrayType):
        """A tracepoint array field, pton's constant bytes, or a copy."""
        f = self.ctx_field(e)
        if f is not None:
            if dst.size > f.size:
                self.zero(dst)
            return self.copy_from_ctx(dst, f.offset, min(f.size, t.size))
        if isinstance(e, ast.Call) and e.name == "pton":
            from ..sema.functions import pton_bytes
            return self.store_constant(pton_bytes(e.args[0].value), dst)
        return self.store_copy(e, dst, t)

    def store_constant(self, data: bytes, dst: Mem):
        """Bytes known at compile time, the rest of ``dst`` zeroed."""
        data = data.ljust(T.align8(dst.size), b"\0")
        for off in range(0, dst.size, 4):
            n = 4 if dst.size - off >= 4 else 1
            for k in range(0, 4, n):
                if off + k >= dst.size:
                    break
                self.b.st(n, dst.base, dst.off + off + k,
                          int.from_bytes(data[off + k:off + k + n], "little", signed=True))

    def store_macaddr(self, e: ast.Call, dst: Mem):
        """Six bytes of an array field, an array or string value, or of the
        memory a pointer points to."""
        b = self.b
        src = e.args[0]
        f = self.ctx_field(src)
        self.zero(dst)
        if f is not None and not src.type.is_int():
            self.copy_from_ctx(dst, f.offset, 6)
        elif not src.type.is_int():
            self.copy(dst, self.mem_expr(src), 6)
        else:
            ptr = self.int_expr(src)
            self.addr(R1, dst)
            b.mov(R2, 6)
            b.mov(R3, ptr.reg)
            b.call(self.read_helper(src.type))

    # ------------------------------------------------------------ strings

    @staticmethod
    def kfunc_id(name: str) -> int | None:
        """The BTF id of a kernel function BPF programs may call, if the
        running kernel has it."""
        from ..btf import load_vmlinux
        try:
            return load_vmlinux().find(name, "func")
        except Exception:  # noqa: BLE001 - no BTF: no kernel functions
            return None

    # Without bpf_strnstr (Linux 6.17) the search is unrolled; this many
    # (haystack x needle) byte pairs keep the program small enough.
    UNROLLED_SEARCH = 64 * 64

    def call_strstr(self, e: ast.Call) -> Int:
        """Index of the needle in the haystack, -1 when it is not there."""
        b = self.b
        hay, needle = self.mem_expr(e.args[0]), self.mem_expr(e.args[1])
        r = b.vreg()
        kid = self.kfunc_id("bpf_strnstr")
        if kid is not None:
            self.addr(R1, hay)
            self.addr(R2, needle)
            b.mov(R3, hay.size)
            b.kfunc_call(kid)
            b.mov(r, R0)
            # an int: sign-extend its 32 bits; any error means not found
            b.alu("lsh", r, 32)
            b.alu("arsh", r, 32)
            found = b.label("found")
            b.jcond("sge", r, 0, found)
            b.mov(r, -1)
            b.place(found)
            return Int(r)
        if hay.size * needle.size > self.UNROLLED_SEARCH:
            raise SemanticError(
                f"{e.name}(): searching a {hay.size}-byte string for a {needle.size}-byte "
                "one needs the kernel's bpf_strnstr (Linux 6.17); use shorter strings "
                "(str(p, N) or max_strlen)", e.span)
        return self.unrolled_search(hay, needle)

    def unrolled_search(self, hay: Mem, needle: Mem) -> Int:
        """strstr with both strings known only at run time, as straight
        code: every start position against every needle byte."""
        b = self.b
        r, x, y = b.vreg(), b.vreg(), b.vreg()
        done = b.label("searched")
        b.mov(r, -1)
        for start in range(hay.size):
            nxt, hit = b.label(), b.label()
            for j in range(min(needle.size, hay.size - start + 1)):
                b.ldx(1, y, needle.base, needle.off + j)
                b.jcond("eq", y, 0, hit)  # the whole needle matched
                if start + j >= hay.size:
                    b.ja(nxt)
                    break
                b.ldx(1, x, hay.base, hay.off + start + j)
                b.jcond("ne", x, y, nxt)
            b.place(hit)
            b.mov(r, start)
            b.ja(done)
            b.place(nxt)
            # the haystack ends here: nothing further can match
            b.ldx(1, x, hay.base, hay.off + start)
            b.jcond("eq", x, 0, done)
        b.place(done)
        return Int(r)

    def store_str_concat(self, e: ast.Call, dst: Mem, length: int):
        """The first string, then the second from where the first ended, in
        a temporary with room for both whole; then as much as fits in
        ``dst``. Both copies are probe_read_kernel_str, whose result (bytes
        copied, NUL included) the verifier knows to be bounded, so the
        second copy starts at one unknown but bounded offset rather than
        forking one verifier path per possible length."""
        b = self.b
        a, c = self.mem_expr(e.args[0]), self.mem_expr(e.args[1])
        tmp = self.stack_mem(a.size + c.size)
        self.addr(R1, tmp)
        b.mov(R2, a.size)
        self.addr(R3, a)
        b.call("probe_read_kernel_str")
        end = b.vreg()
        b.mov(end, R0)
        ok, inside = b.label(), b.label()
        b.jcond("sgt", end, 0, ok)
        b.mov(end, 1)
        b.place(ok)
        b.alu("sub", end, 1)
        b.jcond("le", end, a.size - 1, inside)
        b.mov(end, a.size - 1)
        b.place(inside)
        self.addr(R1, tmp)
        b.alu("add", R1, end)
        b.mov(R2, c.size)
        self.addr(R3, c)
        b.call("probe_read_kernel_str")
        n = min(length, tmp.size, dst.size)
        if n == self.sc.an.max_strlen and tmp.size > n:
            # end + the second's bytes with its NUL: more than n is cut
            total, whole = b.vreg(), b.label("concat_whole")
            b.mov(total, R0)
            b.alu("add", total, end)
            b.jcond("sle", total, n, whole)
            self.count_lost(self.sc.drop_site("strcut", e.name, e.span))
            b.place(whole)
        if dst.size > n:
            self.zero(dst)
        self.copy(dst, tmp, n)
        b.st(1, dst.base, dst.off + n - 1, 0)  # cut short: still a C string

    def call_bswap(self, e: ast.Call) -> Int:
        v = self.int_expr(e.args[0])
        r = self.b.vreg()
        self.b.mov(r, v.reg)
        if e.type.bits > 8:
            self.b.bswap(r, e.type.bits)
        else:
            self.b.alu("and", r, 0xFF)
        return Int(r)

    def call_signal_name(self, e: ast.Call) -> Int:
        return self.int_expr(e.args[0])  # named in user space

    def call_len(self, e: ast.Call) -> Int:
        """Entries of a map (the kernel's per-map element count), or the
        frames of the current stack (bpf_get_stack's bytes / 8)."""
        b = self.b
        a = e.args[0]
        r = b.vreg()
        if isinstance(a, ast.Map):
            kid = self.kfunc_id("bpf_map_sum_elem_count")
            if kid is None:
                raise SemanticError("len() of a map needs the kernel function "
                                    "bpf_map_sum_elem_count (Linux 6.6)", e.span)
            b.ld_map_fd(R1, a.ident)
            b.kfunc_call(kid)
            b.mov(r, R0)
            return Int(r)
        t = a.type
        buf = self.stack_mem(8 * max(t.limit, 1))
        b.mov(R1, self.ctx)
        self.addr(R2, buf)
        b.mov(R3, 8 * t.limit)
        b.mov(R4, self.BPF_F_USER_STACK if t.kind == "user" else 0)
        b.call("get_stack")
        b.mov(r, R0)
        ok = b.label()
        b.jcond("sge", r, 0, ok)
        b.mov(r, 0)
        b.place(ok)
        b.alu("rsh", r, 3)
        return Int(r)
