"""The C types a script can name: kernel types from BTF and the structs,
unions and enums the script defines, turned into language types.

bpftrace's rules carry over: ``char[N]`` is a string, other arrays are
arrays, enums are integers, a pointer remembers what it points to so that
``.``/``->`` can follow it. Kernel types are looked up lazily, one name at
a time, so a script that names ``struct task_struct`` decodes that struct
and nothing else.
"""

from __future__ import annotations

import errno as _errno

from ..arch.syscalls_x86_64 import NUMBERS as _SYSCALL_NUMBERS
from ..btf import BtfError, kinds as K, load_module, load_vmlinux
from ..errors import SemanticError
from . import types as T

_C_INTS = {
    "char": (8, True), "signed char": (8, True), "unsigned char": (8, False),
    "short": (16, True), "unsigned short": (16, False),
    "int": (32, True), "unsigned int": (32, False), "unsigned": (32, False),
    "long": (64, True), "unsigned long": (64, False),
    "long long": (64, True), "unsigned long long": (64, False),
}

# floating-point members of script structs (sema.types.FloatType): bytes
_C_FLOATS = {"float": 4, "double": 8, "long double": 16}


# Constants scripts take from kernel headers (``#include <linux/sched.h>``
# and the like) that are preprocessor macros, so BTF does not carry them;
# bpftrace reads the headers with clang, bpfscope knows these few by value
# (the UAPI/x86-64 values, stable across kernels).
HEADER_MACROS = {
    "TASK_RUNNING": 0, "TASK_INTERRUPTIBLE": 1, "TASK_UNINTERRUPTIBLE": 2,
    "__TASK_STOPPED": 4, "__TASK_TRACED": 8, "EXIT_DEAD": 16, "EXIT_ZOMBIE": 32,
    "TASK_PARKED": 0x40, "TASK_DEAD": 0x80, "TASK_WAKEKILL": 0x100,
    "TASK_NOLOAD": 0x400, "TASK_IDLE": 0x402, "PF_KTHREAD": 0x00200000,
    "AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10,
    "AF_NETLINK": 16, "AF_PACKET": 17,
    "SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3,
    "O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200,
    "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000,
    "O_DIRECTORY": 0o200000, "O_CLOEXEC": 0o2000000,
    "PAGE_SIZE": 4096, "PAGE_SHIFT": 12,
    # <errno.h>: EPERM, ENOENT... (Linux's numbers, as Python's errno has them)
    **{n: getattr(_errno, n) for n in dir(_errno) if n[:1] == "E" and n.isupper()},
    # <syscall.h>, <asm/unistd.h>: __NR_read, __NR_openat...
    **{f"__NR_{n}": nr for n, nr in _SYSCALL_NUMBERS.items()},
}


def _btf(name: str):
    return load_vmlinux() if name in ("", "vmlinux") else load_module(name)


def _skip_modifiers(kb, tid: int) -> tuple[int, bool]:
    """Through typedefs and modifiers; also whether a __user tag was seen."""
    user = False
    for _ in range(64):
        k = kb.kind(tid)
        if k == K.TYPE_TAG and kb.type(tid).name == "user":
            user = True
        if k not in K.MODIFIERS and k != K.TYPEDEF:
            return tid, user
        tid = kb.type(tid).type
    raise BtfError(f"BTF type chain from id {tid} is too deep (a cycle?)")


def from_btf(kb, tid: int) -> T.Type | None:
    """The language type of BTF type ``tid`` (None: void, functions,
    floats — nothing a script can hold)."""
    tid, _ = _skip_modifiers(kb, tid)
    k = kb.kind(tid)
    if k == K.FWD:
        from ..btf.layout import complete
        tid = complete(kb, tid)
        k = kb.kind(tid)
    t = kb.type(tid)
    if k == K.INT:
        if t.is_bool:
            return T.BOOL
        size = t.size if t.size in (1, 2, 4, 8) else 8
        return T.IntType(size * 8, t.signed)
    if k in (K.ENUM, K.ENUM64):
        return enum_from_btf(kb, tid, t.size * 8)
    if k == K.PTR:
        target, user = _skip_modifiers(kb, t.type)
        name = kb.type_name(t.type) if t.type else "void"
        for tag in ("const ", "volatile "):
            name = name.replace(tag, "")
        return T.PointerType(target=name, user=user, ref=(kb.name, t.type))
    if k in (K.STRUCT, K.UNION):
        return T.StructType(name=kb.type_name(tid), nbytes=t.size, ref=(kb.name, tid))
    if k == K.FWD:
        return T.StructType(name=kb.type_name(tid), nbytes=0, ref=(kb.name, tid))
    if k == K.ARRAY:
        elem = from_btf(kb, t.type)
        if elem is None:
            return None
        rid, _ = _skip_modifiers(kb, t.type)
        if kb.kind(rid) == K.INT and kb.type(rid).name == "char":
            # char[N] is a string as in bpftrace; u8[N] (unsigned char) bytes
            return T.StringType(max(t.nelems, 1))
        return T.ArrayType(elem, t.nelems, kb.sizeof(t.type))
    return None


def enum_from_btf(kb, tid: int, bits: int) -> T.EnumType:
    """The kernel's enum ``tid`` as a language type (its values print as
    the enumerators' names)."""
    t = kb.type(tid)
    return T.EnumType(bits, getattr(t, "signed", False), getattr(t, "name", "") or "",
                      tuple((v.name, v.value) for v in t.values))


class TypeLibrary:
    """Names to types for one script: its own definitions first (they are
    what the author meant), then the kernel's BTF."""

    def __init__(self, defs: dict[str, T.Type] | None = None,
                 enums: dict[str, int] | None = None):
        self.defs = dict(defs or {})
        self.enums = dict(enums or {})
        # the script's enumerators' types (sema.types.EnumType), by name
        self._enum_of: dict[str, T.Type] = {}
        self._kernel = None
        self._align: dict[str, int] = {}
        # the probe's traced program (ExpandedProbe.debuginfo): its own
        # types come after the script's and before the kernel's
        self.program = None

    # ------------------------------------------------------------ lookups

    def kernel(self):
        """vmlinux BTF, or None when this kernel has none."""
        if self._kernel is None:
            try:
                self._kernel = load_vmlinux()
            except BtfError:
                self._kernel = False
        return self._kernel or None

    def named(self, name: str) -> T.Type | None:
        """The type a cast or sizeof names: 'struct task_struct', 'u32',
        'int', 'struct foo *' ... None when nothing has that name."""
        name = " ".join(w for w in name.split() if w not in ("const", "volatile"))
        if name.endswith("*"):
            inner = name[:-1].rstrip()
            target = self.named(inner)
            ref = target.ref if isinstance(target, T.StructType) else ()
            return T.PointerType(target=inner, ref=ref)
        it = T.int_type_named(name)
        if it is not None:
            return it
        if name in self.defs:
            return self.defs[name]
        if self.program is not None:
            t = self.program.type_named(name)
            if t is not None:
                return t
        if name in _C_INTS:
            bits, signed = _C_INTS[name]
            return T.IntType(bits, signed)
        kb = self.kernel()
        if kb is None:
            return None
        tag, _, bare = name.partition(" ")
        kinds = {"struct": (K.STRUCT, K.FWD), "union": (K.UNION, K.FWD),
                 "enum": (K.ENUM, K.ENUM64)}.get(tag) if bare else None
        if bare and kinds is None:
            return None
        tid = kb.find(bare, kinds) if kinds else kb.find(name, K.TYPEDEF)
        if tid is None and not kinds:
            tid = kb.find(name, (K.STRUCT, K.UNION, K.INT))
        return None if tid is None else from_btf(kb, tid)

    def pointee(self, p: T.PointerType) -> T.Type | None:
        """What ``p`` points to (None for void or an unknown name)."""
        if p.ref:
            kb = _btf(p.ref[0])
            return None if p.ref[1] == 0 else from_btf(kb, p.ref[1])
        if p.target == "void":
            return None
        return self.named(p.target)

    def enumerator(self, name: str) -> int | None:
        """The value of an enum constant the script or the kernel defines."""
        if name in self.enums:
            return self.enums[name]
        kb = self.kernel()
        found = kb.find_enumerator(name) if kb is not None else None
        if found is not None:
            return found[1]
        return HEADER_MACROS.get(name)

    def enumerator_type(self, name: str) -> T.Type:
        """The type of the constant ``name`` (an enumerator, prints as its
        name; a #define or a header macro, a plain integer)."""
        if name in self.enums:
            return self._enum_of.get(name, T.INT64)
        kb = self.kernel()
        found = kb.find_enumerator(name) if kb is not None else None
        if found is not None:
            return enum_from_btf(kb, found[0], 64)
        return T.INT64

    # ------------------------------------------------------------ definitions

    def define(self, items: list, span=None):
        """Add the script's own definitions (lang.cdecl objects), in order."""
        from ..lang import cdecl as C
        for d in items:
            if isinstance(d, C.CStruct):
                self.struct_from(d, span)
            elif isinstance(d, C.CEnum):
                values = tuple(d.values)
                for name, value in values:
                    self.enums[name] = value
                    self._enum_of[name] = T.EnumType(64, True, d.name, values)
                if d.name:
                    self.defs["enum " + d.name] = T.EnumType(32, True, d.name, values)
            elif isinstance(d, C.CTypedef):
                self.defs[d.name] = self.declared(d.member, span)
            elif isinstance(d, C.CDefine) and isinstance(d.value, int):
                self.enums[d.name] = d.value
                self._enum_of.pop(d.name, None)

    def declared(self, m, span) -> T.Type:
        """The type of one C declarator."""
        from ..lang import cdecl as C
        if isinstance(m.base, C.CStruct):
            base = self.struct_from(m.base, span)
            base_name = base.name
        else:
            base_name = m.base
            base = None
        if m.pointers:
            target = base_name + " *" * (m.pointers - 1)
            t: T.Type = T.PointerType(target=target)
        else:
            t = base if base is not None else self.named(base_name)
            if t is None and base_name in _C_FLOATS:
                t = T.FloatType(_C_FLOATS[base_name])
            if t is None:
                raise SemanticError(f"Unknown type '{base_name}' in the definition of "
                                    f"'{m.name}'", span)
        for n in reversed(m.dims):
            if isinstance(t, T.IntType) and t.bits == 8 and not isinstance(t, T.PointerType):
                t = T.StringType(n)
            else:
                t = T.ArrayType(t, n, T.c_size(t))
        return t

    def struct_from(self, d, span) -> T.StructType:
        """Lay out a script-defined struct or union as C (x86-64) does."""
        name = f"{d.kind} {d.name}" if d.name else f"{d.kind} (anonymous)"
        if not d.members and name in self.defs:
            return self.defs[name]
        members, bitpos, size, align = [], 0, 0, 1
        for m in d.members:
            t = self.declared(m, span)
            a, n = 1 if d.packed or m.packed else self.alignment(t), T.c_size(t)
            a = max(a, m.aligned)
            align = max(align, a)
            if d.kind == "union":
                bitpos = 0
            if m.bits is not None:
                unit = n * 8
                if m.bits == 0 or bitpos // unit != (bitpos + m.bits - 1) // unit:
                    bitpos = -(-bitpos // unit) * unit
                off = bitpos // unit * n
                if m.name:
                    members.append(T.Member(m.name, off, t, bitpos - off * 8, m.bits))
                bitpos += m.bits
            else:
                bitpos = -(-bitpos // (a * 8)) * a * 8
                if m.name:
                    members.append(T.Member(m.name, bitpos // 8, t))
                elif isinstance(t, T.StructType):   # anonymous: its members are ours
                    members.extend(T.Member(x.name, x.offset + bitpos // 8, x.type,
                                            x.bit_offset, x.bits) for x in t.members)
                bitpos += n * 8
            size = max(size, -(-bitpos // 8))
        align = max(align, d.aligned)
        size = -(-size // align) * align
        st = T.StructType(name=name, nbytes=size, members=tuple(members))
        self._align[name] = align
        if d.name:
            self.defs[name] = st
        return st

    def alignment(self, t: T.Type) -> int:
        if isinstance(t, T.ArrayType):
            return self.alignment(t.elem)
        if isinstance(t, T.StringType):
            return 1
        if isinstance(t, T.StructType):
            if t.name in self._align:
                return self._align[t.name]
            return max((self.alignment(m.type) for m in self.members(t)), default=1)
        return max(1, T.c_size(t))

    # ------------------------------------------------------------ members

    def member(self, st: T.StructType, name: str) -> T.Member | None:
        """Member ``name`` of ``st`` (through anonymous members)."""
        for m in self.members(st):
            if m.name == name:
                return m
        return None

    def members(self, st: T.StructType) -> tuple:
        """Every named member of ``st`` in declaration order."""
        if not st.ref:
            return st.members
        cached = _MEMBERS.get(st.ref)
        if cached is not None:
            return cached
        kb = _btf(st.ref[0])
        out = []
        try:
            fields = kb.members(st.ref[1])
        except BtfError as e:
            raise SemanticError(str(e)) from None
        for f in fields:
            t = from_btf(kb, f.type)
            if t is None:
                continue
            byte, bit = divmod(f.bit_offset, 8)
            if f.bitfield_size:
                out.append(T.Member(f.name, byte, t, bit, f.bitfield_size))
            else:
                out.append(T.Member(f.name, byte, t))
        _MEMBERS[st.ref] = tuple(out)
        return _MEMBERS[st.ref]


# Members of kernel structs by (BTF name, id): the same for every script.
_MEMBERS: dict[tuple, tuple] = {}


def members_of(st: T.StructType) -> tuple:
    """Members of a struct value, for the run time that prints it."""
    return TypeLibrary().members(st)
