"""Values made of raw bytes: buf(), and the functions that build byte
arrays (pton, macaddr) or new strings (str_concat).

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

from ..lang import ast
from ..sema import types as T
from .insn import R1, R2, R3
from .loweringvalues import Int, Mem


class BytesLowering:
    def bounded_length(self, e: ast.Expr, cap: int) -> Int:
        """A length computed at run time, made at most ``cap`` (unsigned, so
        a negative one is ``cap`` too): the verifier must see the bound
        before the length reaches a read helper."""
        b = self.b
        n = b.vreg()
        b.mov(n, self.int_expr(e).reg)
        ok = b.label("len_ok")
        b.jcond("le", n, cap, ok)
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
        f = self.probe.arg(src.field) if isinstance(src, ast.FieldAccess) and \
            isinstance(src.expr.type, T.ArgsType) else None
        if fixed is not None and f is not None and f.kind == "array":
            self.copy_from_ctx(data, f.offset, cap)
        elif fixed is not None and src.type.is_string():
            self.copy(data, self.mem_expr(src), cap)
        else:
            n = self.bounded_length(e.args[1], cap).reg if fixed is None else cap
            if f is not None and f.kind == "array":
                where, helper = self.ctx, "probe_read_kernel"
                off = f.offset
            elif src.type.is_string():
                m = self.mem_expr(src)
                where, helper, off = m.base, "probe_read_kernel", m.off
            else:
                where = self.int_expr(src).reg
                helper = "probe_read_user" if self.reads_user(src) else "probe_read_kernel"
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
