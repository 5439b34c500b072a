"""Builder: the API the lowering uses to emit one BPF program.

It appends :class:`Insn` objects over virtual registers (and the few
physical registers of the calling convention, see the contract in
regalloc.py) to a linear stream in which placed :class:`Label` objects mark
jump targets.  ``finish()`` allocates registers, resolves labels and returns
an assembled :class:`Program`.

A program may have more functions than its main one: :meth:`function`
gives the Builder of a callback (its own stream, registers and frame), and
:meth:`ld_func` loads its address for a helper such as
bpf_for_each_map_elem.  Every function is allocated on its own and placed
after main.  The verifier counts the frames of a call chain together
against the 512-byte limit, each rounded up to 32 bytes.
"""

from __future__ import annotations

from itertools import count

from bpfscope.codegen import insn as I
from bpfscope.codegen.assemble import Program, assemble
from bpfscope.codegen.helpers import helper_id
from bpfscope.codegen.insn import Insn, Label, PReg, Reg, VReg
from bpfscope.codegen.deadcode import remove_dead_code
from bpfscope.codegen.peephole import peephole
from bpfscope.codegen.regalloc import allocate
from bpfscope.codegen.stack import MAX_STACK, StackOverflow, align_up

FRAME_ALIGN = 32  # the verifier rounds each frame of a call chain up to this

__all__ = ["Builder", "Program", "StackOverflow"]


def fits_s32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


def _check_reg(r, what: str) -> None:
    if not isinstance(r, (PReg, VReg)):
        raise TypeError(f"{what} must be a register, not {r!r}")


class Builder:
    """Emits a linear instruction stream; see the module docstring."""

    def __init__(self, name: str = "main", args: tuple[str, ...] = ("ctx",),
                 parent: "Builder | None" = None, max_stack: int = MAX_STACK) -> None:
        self.insns: list[Insn | Label] = []
        self._vregs = count()
        self._stack_used = 0
        self._stack_high = 0
        self._placed: set[int] = set()
        self.name = name
        self.args = args
        self.parent = parent
        self.max_stack = max_stack
        self.entry = Label(name)
        self.functions: list[Builder] = []  # the callbacks, kept by main only

    # -- functions ----------------------------------------------------------

    def function(self, name: str, args: tuple[str, ...]) -> "Builder":
        """A new function called from this one (through a helper); its
        arguments arrive in r1.. at entry, its frame is its own."""
        root = self
        while root.parent is not None:
            root = root.parent
        fn = Builder(name, args, self,
                     self.max_stack - align_up(self._stack_high, FRAME_ALIGN))
        root.functions.append(fn)
        return fn

    def ld_func(self, dst: Reg, fn: "Builder") -> None:
        """Load the address of function ``fn`` (a callback argument)."""
        _check_reg(dst, "destination")
        self.emit(Insn(I.LD_IMM64, dst, I.PSEUDO_FUNC, 0, 0, target=fn.entry))

    # -- registers, labels, stack -------------------------------------------

    def vreg(self) -> VReg:
        return VReg(next(self._vregs))

    def label(self, name: str = "") -> Label:
        return Label(name)

    def place(self, label: Label) -> None:
        if label.id in self._placed:
            raise ValueError(f"label {label!r} placed twice")
        self._placed.add(label.id)
        self.insns.append(label)

    def stack(self, size: int, align: int = 8) -> int:
        """Reserve ``size`` bytes of stack; returns the offset from r10."""
        if size <= 0 or align <= 0 or align & (align - 1):
            raise ValueError(f"bad stack request: size={size} align={align}")
        end = align_up(self._stack_used + size, align)
        if end > self.max_stack:
            raise StackOverflow(
                f"BPF stack limit exceeded: {end} bytes needed, {self.max_stack} available")
        self._stack_used = end
        self._stack_high = max(self._stack_high, end)
        return -end

    def stack_mark(self) -> int:
        """A point to return to with :meth:`stack_release`."""
        return self._stack_used

    def stack_release(self, mark: int) -> None:
        """Free the regions reserved since ``mark`` for reuse: temporaries of
        one statement need not outlive it. Spill slots still go below the
        deepest point ever reached."""
        self._stack_used = mark

    @property
    def stack_used(self) -> int:
        return self._stack_high

    # -- instructions -------------------------------------------------------

    def emit(self, ins: Insn) -> Insn:
        self.insns.append(ins)
        return ins

    def _alu_class(self, w: int) -> int:
        if w not in (32, 64):
            raise ValueError(f"width must be 32 or 64, not {w}")
        return I.ALU64 if w == 64 else I.ALU

    def _imm_operand(self, src: Reg | int, w: int) -> Reg | int:
        """An int fitting an imm field as-is, or a register holding it.

        A 32-bit op only sees the low 32 bits, so any int is truncated; a
        64-bit op sign-extends imm, so wider values go through ld_imm64.
        """
        if not isinstance(src, int):
            _check_reg(src, "source")
            return src
        if w == 32:
            return I._s32(src)
        if fits_s32(src):
            return src
        tmp = self.vreg()
        self.ld_imm64(tmp, src)
        return tmp

    def mov(self, dst: Reg, src: Reg | int, w: int = 64) -> None:
        _check_reg(dst, "destination")
        cls = self._alu_class(w)
        if isinstance(src, int):
            if w == 64 and not fits_s32(src):
                self.ld_imm64(dst, src)
            else:
                self.emit(Insn(cls | I.K | I.MOV, dst, 0, 0, I._s32(src)))
            return
        _check_reg(src, "source")
        self.emit(Insn(cls | I.X | I.MOV, dst, src, 0, 0))

    def alu(self, op: str, dst: Reg, src: Reg | int = 0, w: int = 64) -> None:
        _check_reg(dst, "destination")
        cls = self._alu_class(w)
        if op not in I.ALU_OPS or op == "mov":
            raise ValueError(f"unknown ALU op {op!r}")
        code = I.ALU_OPS[op]
        off = 1 if op in I.SIGNED_ALU_OPS else 0
        if op == "neg":
            self.emit(Insn(cls | I.K | code, dst, 0, 0, 0))
            return
        src = self._imm_operand(src, w)
        if isinstance(src, int):
            self.emit(Insn(cls | I.K | code, dst, 0, off, src))
        else:
            self.emit(Insn(cls | I.X | code, dst, src, off, 0))

    def ld_imm64(self, dst: Reg, value: int) -> None:
        _check_reg(dst, "destination")
        if not -(1 << 63) <= value < (1 << 64):
            raise ValueError(f"{value} does not fit in 64 bits")
        self.emit(Insn(I.LD_IMM64, dst, 0, 0, value & 0xFFFFFFFFFFFFFFFF))

    def ld_btf_var(self, dst: Reg, btf_id: int) -> None:
        """The address of the kernel variable with this id in vmlinux's BTF
        (a per-CPU one gives a per-CPU pointer)."""
        _check_reg(dst, "destination")
        self.emit(Insn(I.LD_IMM64, dst, I.PSEUDO_BTF_ID, 0, btf_id))

    def ld_map_fd(self, dst: Reg, map_name: str) -> None:
        _check_reg(dst, "destination")
        self.emit(Insn(I.LD_IMM64, dst, I.PSEUDO_MAP_FD, 0, 0, map_name=map_name))

    def ld_map_value(self, dst: Reg, map_name: str, off: int = 0) -> None:
        """The address of byte ``off`` of the value of a one-element array
        map, resolved at load time: no lookup call, no NULL check."""
        _check_reg(dst, "destination")
        self.emit(Insn(I.LD_IMM64, dst, I.PSEUDO_MAP_VALUE, 0, off, map_name=map_name))

    @staticmethod
    def _size(size: int) -> int:
        try:
            return I.SIZE_CODE[size]
        except KeyError:
            raise ValueError(f"access size must be 1, 2, 4 or 8 bytes, not {size}") from None

    def ldx(self, size: int, dst: Reg, base: Reg, off: int) -> None:
        _check_reg(dst, "destination")
        _check_reg(base, "base")
        self.emit(Insn(I.LDX | I.MEM | self._size(size), dst, base, off, 0))

    def stx(self, size: int, base: Reg, off: int, src: Reg) -> None:
        _check_reg(base, "base")
        _check_reg(src, "source")
        self.emit(Insn(I.STX | I.MEM | self._size(size), base, src, off, 0))

    def st(self, size: int, base: Reg, off: int, imm: int) -> None:
        _check_reg(base, "base")
        if not fits_s32(imm):
            raise ValueError(f"store immediate {imm} does not fit in 32 bits")
        self.emit(Insn(I.ST | I.MEM | self._size(size), base, 0, off, imm))

    def atomic_add(self, size: int, base: Reg, off: int, src: Reg) -> None:
        """``lock *(size *)(base + off) += src`` (size 4 or 8)."""
        if size not in (4, 8):
            raise ValueError("atomic add needs a 4 or 8 byte operand")
        _check_reg(base, "base")
        _check_reg(src, "source")
        self.emit(Insn(I.STX | I.ATOMIC | self._size(size), base, src, off, I.ADD))

    def call(self, helper: str | int) -> None:
        self.emit(Insn(I.JMP | I.CALL, 0, 0, 0, helper_id(helper)))

    def kfunc_call(self, btf_id: int) -> None:
        """Call the kernel function with this id in vmlinux's BTF."""
        self.emit(Insn(I.JMP | I.CALL, 0, I.PSEUDO_KFUNC_CALL, 0, btf_id))

    def bswap(self, dst: Reg, bits: int) -> None:
        """Reverse the low ``bits`` (16, 32 or 64) bits' bytes, zeroing the
        rest: a conversion to big endian on this little-endian machine."""
        _check_reg(dst, "destination")
        if bits not in (16, 32, 64):
            raise ValueError(f"bswap of {bits} bits")
        self.emit(Insn(I.ALU | I.X | I.END, dst, 0, 0, bits))

    def ja(self, label: Label) -> None:
        self.emit(Insn(I.JMP | I.JA, 0, 0, 0, 0, target=label))

    def jcond(self, op: str, a: Reg, b: Reg | int, label: Label, w: int = 64) -> None:
        _check_reg(a, "compared operand")
        if w not in (32, 64):
            raise ValueError(f"width must be 32 or 64, not {w}")
        if op not in I.JMP_OPS:
            raise ValueError(f"unknown jump condition {op!r}")
        cls = I.JMP if w == 64 else I.JMP32
        b = self._imm_operand(b, w)
        if isinstance(b, int):
            self.emit(Insn(cls | I.K | I.JMP_OPS[op], a, 0, 0, b, target=label))
        else:
            self.emit(Insn(cls | I.X | I.JMP_OPS[op], a, b, 0, 0, target=label))

    def exit_(self) -> None:
        self.emit(Insn(I.JMP | I.EXIT))

    # -- result -------------------------------------------------------------

    def _allocate(self) -> tuple[list[Insn | Label], int]:
        stream, size = allocate(remove_dead_code(self.insns), self._stack_high,
                                nargs=len(self.args), max_stack=self.max_stack)
        return peephole(stream), size

    def finish(self) -> Program:
        """Allocate registers, resolve labels and encode (the main Builder
        does this for every function of the program)."""
        stream, stack_size = self._allocate()
        if not self.functions:
            return assemble(stream, stack_size)
        frames = {id(self): stack_size}
        code = [self.entry, *stream]
        for fn in self.functions:
            fstream, fsize = fn._allocate()
            frames[id(fn)] = fsize
            code += [fn.entry, *fstream]
        for fn in self.functions:
            chain, f = 0, fn
            while f is not None:
                chain += align_up(max(frames[id(f)], 1), FRAME_ALIGN)
                f = f.parent
            if chain > MAX_STACK:
                raise StackOverflow(
                    f"BPF stack limit exceeded: {chain} bytes needed by {fn.name} and "
                    f"the functions it is called from, {MAX_STACK} available")
        return assemble(code, stack_size,
                        [(f.entry, f.name, f.args) for f in (self, *self.functions)])
