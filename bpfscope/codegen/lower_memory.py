"""Reading typed memory: struct members (``.``/``->``), array elements,
``*ptr``, bitfields, and array casts.

A struct or array value is either already in BPF memory (a variable, a
map value: ``Mem``) or somewhere in kernel or user memory (``Remote``: an
address in a register). Member and element access only moves the place;
bytes are read with bpf_probe_read[_user] when an integer, a string
or a whole value is finally needed, so ``curtask->parent->pid`` reads two
pointers and one int, never a task_struct.

A mixin of codegen.lower.ProbeLowering.
"""

from __future__ import annotations

from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from .insn import R0, R1, R2, R3
from .loweringvalues import Int, Mem, Remote

_MEMORY_TYPES = (T.StructType, T.ArrayType)


def _read_size(bit_offset: int, bits: int) -> int:
    """Smallest load (1, 2, 4, 8 bytes) covering a bitfield."""
    need = (bit_offset + bits + 7) // 8
    for n in (1, 2, 4, 8):
        if n >= need:
            return n
    raise SemanticError(f"a bitfield spanning {need} bytes")


class MemoryLowering:
    def is_typed_access(self, e: ast.Expr) -> bool:
        """Is ``e`` a struct member, element or dereference this mixin reads?"""
        if isinstance(e, ast.FieldAccess):
            return e.member is not None
        if isinstance(e, ast.Index):
            return not isinstance(e.expr.type, T.TupleType)
        return isinstance(e, ast.Unop) and e.op == "*"

    # ------------------------------------------------------------ places

    def place(self, e: ast.Expr):
        """Where the value of ``e`` is: Mem or Remote, ``e.type.size`` bytes."""
        size = T.c_size(e.type)
        if isinstance(e, ast.FieldAccess) and e.member is not None:
            m = e.member
            base_t = e.expr.type
            if isinstance(base_t, T.PointerType):
                return Remote(self.int_expr(e.expr).reg, m.offset, size, base_t.user)
            return self.place(e.expr).at(m.offset, size)
        if isinstance(e, ast.Unop) and e.op == "*":
            return Remote(self.int_expr(e.operand).reg, 0, size,
                          getattr(e.operand.type, "user", False))
        if isinstance(e, ast.Index) and not isinstance(e.expr.type, T.TupleType):
            return self.element_place(e, size)
        if isinstance(e, ast.Cast) and isinstance(e.type, T.ArrayType):
            return self.array_cast(e)
        v = self.value(e)
        if not isinstance(v, Mem):
            raise SemanticError(f"a value of type '{e.type}' is not in memory", e.span)
        return v

    def element_place(self, e: ast.Index, size: int):
        base_t = e.expr.type
        if isinstance(base_t, T.PointerType):
            addr = self.int_expr(e.expr).reg
            user = base_t.user
            base = None
        else:
            base = self.place(e.expr)
            user = getattr(base, "user", False)
        if isinstance(e.index, ast.Integer):
            off = e.index.value * size
            if base is not None:
                return base.at(off, size)
            return Remote(addr, off, size, user)
        idx = self.int_expr(e.index).reg
        r = self.b.vreg()
        self.b.mov(r, idx)
        if size != 1:
            self.b.alu("mul", r, size)
        if base is None:
            self.b.alu("add", r, addr)
            return Remote(r, 0, size, user)
        if isinstance(base, Mem):
            raise SemanticError("indexing an array held in a variable or map needs a "
                                "constant index", e.index.span)
        self.b.alu("add", r, base.addr)
        return Remote(r, base.off, size, base.user)

    # ------------------------------------------------------------ reads

    def typed_value(self, e: ast.Expr):
        """The value of a member/element/dereference: Int for scalars,
        Mem (copied out of kernel or user memory when needed) otherwise."""
        t = e.type
        if isinstance(e, ast.Index) and not isinstance(e.index, ast.Integer) and t.is_int():
            held = self.held_element(e)
            if held is not None:
                return held
        p = self.place(e)
        if t.is_int():
            m = e.member if isinstance(e, ast.FieldAccess) else None
            return self.load_scalar(p, t, m.bit_offset if m else 0, m.bits if m else 0)
        if isinstance(p, Mem):
            return p
        dst = self.stack_mem(t.size)
        self.read_into(dst, p, t)
        return Mem(dst.base, dst.off, t.size)

    def held_element(self, e: ast.Index) -> Int | None:
        """An integer element at a run-time index of a string or array held
        in a variable or map value (`$s[$i]`): 0 past its end, and the
        bounds check gives the verifier the range of the offset."""
        base_t = e.expr.type
        count = base_t.length if isinstance(base_t, T.StringType) else \
            getattr(base_t, "count", None)
        if count is None or isinstance(base_t, T.PointerType):
            return None
        base = self.place(e.expr)
        if not isinstance(base, Mem):
            return None
        b = self.b
        size = T.c_size(e.type)
        out, done = b.vreg(), b.label()
        r = b.vreg()
        b.mov(r, self.int_expr(e.index).reg)
        b.mov(out, 0)
        b.jcond("ge", r, count, done)
        if size != 1:
            b.alu("mul", r, size)
        b.alu("add", r, base.base)
        b.mov(out, self.load_scalar(Mem(r, base.off, size), e.type).reg)
        b.place(done)
        return Int(out)

    def load_scalar(self, p, t: T.Type, bit_offset: int = 0, bits: int = 0) -> Int:
        b = self.b
        size = _read_size(bit_offset, bits) if bits else T.c_size(t)
        r = b.vreg()
        if isinstance(p, Mem):
            b.ldx(size, r, p.base, p.off)
        else:
            tmp = self.stack_mem(8)
            self.probe_read(tmp, size, p)
            b.ldx(size, r, tmp.base, tmp.off)
        if bits:
            # C bitfields on little-endian x86: counted from the low bit
            if bit_offset:
                b.alu("rsh", r, bit_offset)
            b.alu("lsh", r, 64 - bits)
            b.alu("arsh" if t.signed else "rsh", r, 64 - bits)
        elif t.signed and size < 8:
            self.narrow(r, T.IntType(size * 8, True))
        return Int(r)

    def probe_read(self, dst: Mem, n: int, src: Remote, string: bool = False):
        """bpf_probe_read_{kernel,user}[_str](dst, n, src)."""
        b = self.b
        self.addr(R1, dst)
        b.mov(R2, n)
        b.mov(R3, src.addr)
        if src.off:
            b.alu("add", R3, src.off)
        b.call(self.read_helper(T.PointerType(user=src.user), string))

    def read_into(self, dst: Mem, p, t: T.Type):
        """Copy the value at place ``p`` (of type ``t``) to ``dst``."""
        if isinstance(p, Mem):
            n = min(p.size, dst.size)
            if isinstance(t, T.StringType) and dst.size > n:
                self.zero(dst)
            self.copy(dst, p, n)
            return
        if isinstance(t, T.StringType):
            # a char array: up to its NUL, the rest of dst zeroed; one with
            # no NUL is all its chars (bpftrace: char s[5] = "hello")
            n = min(p.size, dst.size)
            self.zero(dst)
            self.probe_read(dst, n, p, string=True)
            if n > 1:
                # the _str read stops one short, putting a NUL there: read
                # that last char as it is when the read filled all n bytes
                done, r = self.b.label(), self.b.vreg()
                self.b.mov(r, R0)
                self.b.jcond("ne", r, n, done)
                self.probe_read(dst.at(n - 1, 1), 1, p.at(n - 1, 1))
                self.b.place(done)
            return
        self.zero(dst)
        self.probe_read(dst, min(p.size, dst.size), p)

    def store_typed(self, e: ast.Expr, dst: Mem, t: T.Type):
        """``store`` for struct/array values and char-array members."""
        self.read_into(dst, self.place(e), t)

    # ------------------------------------------------------------ casts

    def array_cast(self, e: ast.Cast) -> Mem:
        """(uint8[8])x: the integer's bytes as an array (little-endian)."""
        src_t = e.expr.type
        if isinstance(src_t, T.ArrayType):
            return self.place(e.expr)
        v = self.int_expr(e.expr)
        m = self.stack_mem(8)
        self.b.stx(8, m.base, m.off, v.reg)
        return Mem(m.base, m.off, e.type.size)

    def int_from_array(self, e: ast.Cast) -> Int:
        """(uint64)arr: the array's bytes as one integer."""
        p = self.place(e.expr)
        return self.load_scalar(p, e.type)
