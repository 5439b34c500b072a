"""Byte arrays: a tracepoint array field or a copy of one, and bytes known
at compile time (pton's).

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

from ..lang import ast
from ..sema import types as T
from .loweringvalues import Mem


class BytesLowering:
    def store_array(self, e: ast.Expr, dst: Mem, t: T.ArrayType):
        """A tracepoint array field, pton's constant bytes, or a copy."""
        f = self.ctx_field(e)
        if f is not None:
            if dst.size > f.size:
                self.zero(dst)
            return self.copy_from_ctx(dst, f.offset, min(f.size, t.size))
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

    # ------------------------------------------------------------ strings

