"""``args`` and typed ``retval`` of uprobes, from the probed program's DWARF.

bpftrace 0.26 names a uprobe's arguments from debug information:
``args.n``, ``args.foo1->a`` (or ``args.foo1.a``), ``-lv`` listing them as
``int argc``, ``struct Foo* foo1``, and casts such as ``(struct Foo
*)arg0`` to the program's own types. :class:`DebugArgs` is what a uprobe
gives sema for that (``ExpandedProbe.debuginfo``): the ArgFields of the
parameters and the program's types in sema's terms, read from DWARF
(elf.dwarftypes) only when a script first asks, so probing a thousand
functions costs nothing until one uses ``args``.

Where each parameter is comes from the x86-64 System V calling convention
at the function's first instruction: integers, pointers, enums and bools
take the next of rdi, rsi, rdx, rcx, r8, r9; a float or double goes in
an SSE register and is not offered; a struct passed by value takes one or
two integer registers (up to 16 bytes of integers) or none (bigger: on
the stack), and is not offered either; a function returning a struct over
16 bytes gets the address for it in rdi first. After a struct mixing
floats and integers by value, the registers of the rest are not certain,
so they are left out rather than read wrong. Arguments past the sixth
register are on the stack and left out too.
"""

from __future__ import annotations

from ..arch.x86_64 import REGS_ARGS, REGS_RETVAL
from ..elf.dwarftypes import CType, FunctionInfo, function_info
from ..elf.reader import ElfError
from ..sema import types as T
from ..sema.probes import ArgField


class DebugArgs:
    """The debug information of one probed function, for sema."""

    def __init__(self, path: str, vaddr: int, is_return: bool):
        self.path, self.vaddr, self.is_return = path, vaddr, is_return
        self._info: FunctionInfo | None | bool = False
        self._types: dict[str, T.Type] = {}

    def info(self) -> FunctionInfo | None:
        if self._info is False:
            try:
                self._info = function_info(self.path, self.vaddr)
            except (ElfError, OSError):
                self._info = None  # unreadable debug info: as if there were none
        return self._info  # type: ignore[return-value]

    def args(self) -> list[ArgField] | None:
        """The ArgFields of ``args`` (a uretprobe's: ``$retval`` alone),
        or None when the file has no debug information for the function."""
        info = self.info()
        if info is None:
            return None
        if self.is_return:
            f = _field("$retval", info.returns, REGS_RETVAL)
            return [f] if f is not None else []
        return [f for f, _ in parameter_fields(info)]

    def declarations(self) -> list[str] | None:
        """``-lv``: one C declaration per parameter, as bpftrace lists them."""
        info = self.info()
        if info is None:
            return None
        return [f"{p.type.spelled} {p.name}" for p in info.params]

    def type_named(self, name: str) -> T.Type | None:
        """The program's struct, union or enum ``name`` ('struct Foo')."""
        info = self.info()
        if info is None or name not in info.types:
            return None
        return self._convert(info.types[name])

    def _convert(self, c: CType) -> T.Type | None:
        if c.kind in ("struct", "union"):
            if c.name in self._types:
                return self._types[c.name]
            st = T.StructType(name=c.name, nbytes=c.size, user=True)
            self._types[c.name] = st
            members = []
            for name, off, mt, bit_off, bits in c.members:
                t = self._convert(mt)
                if t is not None:
                    members.append(T.Member(name, off, t, bit_off, bits))
            # members last: a struct pointing to itself sees its own name
            st = T.StructType(name=c.name, nbytes=c.size, members=tuple(members), user=True)
            self._types[c.name] = st
            return st
        if c.kind == "array":
            elem = c.target
            if elem is None or not c.count:
                return None
            if elem.kind == "int" and elem.size == 1:
                return T.StringType(c.count)
            et = self._convert(elem)
            return None if et is None else T.ArrayType(et, c.count, elem.size, user=True)
        if c.kind == "pointer":
            return T.PointerType(target=_target_name(c.target), user=True)
        if c.kind == "enum" and c.size in (1, 2, 4, 8):
            # prints as its enumerator's name (bpftrace 0.26)
            return T.EnumType(c.size * 8, c.signed, c.name.removeprefix("enum "),
                              tuple(c.enumerators))
        return _scalar(c)


def parameter_fields(info: FunctionInfo) -> list[tuple[ArgField, int]]:
    """(ArgField, parameter index) of the parameters held in registers at
    entry."""
    out = []
    reg = 1 if _in_memory(info.returns) else 0  # the hidden return-slot pointer
    for i, p in enumerate(info.params):
        c = p.type
        if c.kind in ("struct", "union"):
            if c.size > 16:
                continue                     # on the stack: no register
            if _has_float(c):
                break                        # classes mixed: the rest uncertain
            reg += (c.size + 7) // 8
            continue
        if c.kind == "float" or c.kind == "array":
            continue
        if reg >= len(REGS_ARGS):
            break
        f = _field(p.name, c, REGS_ARGS[reg])
        reg += 1
        if f is not None:
            out.append((f, i))
    return out


def _field(name: str, c: CType, offset: int) -> ArgField | None:
    """An ArgField read from the register at ``offset`` of pt_regs."""
    if c.kind == "pointer":
        return ArgField(name, offset, 8, False, "pointer", f"{_target_name(c.target)} *",
                        user=True)
    if c.kind in ("int", "enum"):
        return ArgField(name, offset, c.size or 8, c.signed, "int", c.name)
    if c.kind == "bool":
        return ArgField(name, offset, 1, False, "bool", c.name)
    return None


def _scalar(c: CType) -> T.Type | None:
    if c.kind == "bool":
        return T.BOOL
    if c.kind in ("int", "enum") and c.size in (1, 2, 4, 8):
        return T.IntType(c.size * 8, c.signed)
    return None


def _target_name(c: CType | None) -> str:
    """The name sema looks a pointer's target up by: the program's struct
    names as they are, integers by their width ('int32'), else void."""
    if c is None or c.kind in ("void", "function"):
        return "void"
    if c.kind in ("struct", "union", "enum"):
        return c.name
    if c.kind == "pointer":
        return f"{_target_name(c.target)} *"
    t = _scalar(c)
    if isinstance(t, T.IntType) and not isinstance(t, T.BoolType):
        return "char" if c.size == 1 and c.name.endswith("char") else str(t)
    return "void"


def _in_memory(c: CType) -> bool:
    return c.kind in ("struct", "union") and c.size > 16


def _has_float(c: CType) -> bool:
    return any(m[2].kind == "float" or (m[2].kind in ("struct", "union") and _has_float(m[2]))
               for m in c.members)
