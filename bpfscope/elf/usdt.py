"""SystemTap SDT (USDT) probes: ``.note.stapsdt`` and argument specs.

Each probe is an ELF note, owner ``stapsdt``, type 3, whose descriptor
holds three addresses and three strings::

    pc, base, semaphore       (8 bytes each on ELF64)
    provider\\0 name\\0 args\\0

``pc`` is the probe site (a ``nop``), ``semaphore`` the address of a 2-byte
counter the tracer increments so the program computes arguments only when
traced (0 if none), and ``base`` the link-time address of the
``.stapsdt.base`` section. If a tool such as prelink moved the sections
after link time, the note's addresses are stale; the format's rule is to
add (actual ``.stapsdt.base`` address - note's ``base``) to pc and
semaphore.

The argument string is space separated; each is ``[-]SIZE@OPERAND`` in the
assembler's syntax (AT&T on x86-64): a negative SIZE means signed. The
operand is a register (``%edi``), an immediate (``$5``) or memory
(``-8(%rbp)``, ``16(%rsp,%rcx,8)``, ``sym+4(%rip)``). :func:`parse_arg_spec`
turns one into a :class:`UsdtArg` with the ``struct pt_regs`` offset of
each register, which is how a BPF program at the uprobe reads them.
"""

from __future__ import annotations

import fnmatch
import re
import struct
from dataclasses import dataclass, field

from ..arch.x86_64 import PT_REGS_X86_64, X86_64_REGISTERS
from .reader import ElfError, ElfFile

NT_STAPSDT = 3

@dataclass(frozen=True)
class Register:
    """A register as written: its name, the 64-bit register it is part
    of, width and byte offset within that, and the pt_regs offset."""

    name: str
    full: str
    width: int
    byte_offset: int
    pt_regs_offset: int

    @classmethod
    def x86_64(cls, name: str) -> "Register":
        name = name.lower()
        if name not in X86_64_REGISTERS:
            raise ElfError(f"unknown x86-64 register %{name} in USDT argument")
        full, width, byte_off = X86_64_REGISTERS[name]
        return cls(name, full, width, byte_off, PT_REGS_X86_64[full])


@dataclass(frozen=True)
class UsdtArg:
    """One decoded argument.

    ``kind`` is 'reg' (value of ``reg``), 'mem' (load ``size`` bytes at
    base + index*scale + disp, where ``disp_symbol`` if set is an ELF
    symbol whose address adds to disp — the %rip-relative form), or
    'const' (``value``). The result is ``size`` bytes, sign-extended if
    ``signed``.
    """

    size: int
    signed: bool
    kind: str
    reg: Register | None = None
    base: Register | None = None
    index: Register | None = None
    scale: int = 1
    disp: int = 0
    disp_symbol: str = ""
    value: int = 0
    is_float: bool = False
    spec: str = ""


@dataclass
class UsdtProbe:
    """One probe site. Addresses are ELF virtual addresses (prelink
    adjusted); ``pc_offset``/``semaphore_offset`` are the file offsets a
    uprobe (and its reference counter) attach to."""

    path: str
    provider: str
    name: str
    pc: int
    base: int
    semaphore: int
    arg_str: str
    args: list[UsdtArg] = field(default_factory=list)
    pc_offset: int | None = None
    semaphore_offset: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.provider}:{self.name}"


_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_MEM_RE = re.compile(
    r"^(?P<disp>[^()]*)\((?P<base>%\w+)?(?:,(?P<index>%\w+)(?:,(?P<scale>\d+))?)?\)$")
_SPEC_RE = re.compile(r"^(?P<size>-?\d+)(?P<float>f?)@(?P<op>.+)$")


def _int(s: str) -> int:
    return int(s, 0)


def parse_arg_spec(spec: str, arch: str = "x86_64") -> UsdtArg:
    """Decode one argument spec such as ``-4@%edi`` or ``8@16(%rsp,%rcx,8)``.

    An operand without ``SIZE@`` (the oldest notes) is taken as 8 bytes,
    unsigned. Raises ElfError for anything else.
    """
    if arch != "x86_64":
        raise ElfError(f"USDT arguments for {arch} are not supported")
    s = spec.strip()
    m = _SPEC_RE.match(s)
    if m:
        size_s, is_float, op = int(m.group("size")), bool(m.group("float")), m.group("op")
        signed, size = size_s < 0, abs(size_s)
    else:
        signed, size, is_float, op = False, 8, False, s
    if size not in (1, 2, 4, 8, 16):
        raise ElfError(f"bad USDT argument size in {spec!r}")
    if op.startswith("%"):
        return UsdtArg(size, signed, "reg", reg=Register.x86_64(op[1:]),
                       is_float=is_float, spec=spec)
    if op.startswith("$"):
        try:
            v = _int(op[1:])
        except ValueError:
            raise ElfError(f"bad USDT constant in {spec!r}") from None
        return UsdtArg(size, signed, "const", value=v, is_float=is_float,
                       spec=spec)
    mm = _MEM_RE.match(op)
    if mm:
        disp_s = mm.group("disp").strip()
        disp, sym = 0, ""
        if disp_s:
            # "sym", "sym+8", "sym-8", "8", "-0x10"
            dm = re.match(rf"^(?P<sym>[A-Za-z_.$][\w.$@]*)?(?P<off>{_NUM})?$",
                          disp_s)
            if not dm or not (dm.group("sym") or dm.group("off")):
                raise ElfError(f"bad USDT displacement in {spec!r}")
            sym = dm.group("sym") or ""
            disp = _int(dm.group("off")) if dm.group("off") else 0
        base = Register.x86_64(mm.group("base")[1:]) if mm.group("base") else None
        index = Register.x86_64(mm.group("index")[1:]) if mm.group("index") else None
        scale = int(mm.group("scale") or 1)
        if scale not in (1, 2, 4, 8):
            raise ElfError(f"bad USDT index scale in {spec!r}")
        return UsdtArg(size, signed, "mem", base=base, index=index, scale=scale,
                       disp=disp, disp_symbol=sym, is_float=is_float, spec=spec)
    # A bare number or symbol is a memory reference by absolute address.
    if re.match(rf"^{_NUM}$", op):
        return UsdtArg(size, signed, "mem", disp=_int(op), is_float=is_float,
                       spec=spec)
    raise ElfError(f"cannot parse USDT argument {spec!r}")


def split_args(arg_str: str) -> list[str]:
    """The argument string split into specs (spaces separate them)."""
    return arg_str.split()


def decode_note(desc: bytes, actual_base: int | None, path: str = "") -> UsdtProbe:
    """A probe from one stapsdt note descriptor. actual_base is the
    address of .stapsdt.base in this file (None if the section is
    missing: no prelink adjustment)."""
    if len(desc) < 24:
        raise ElfError(f"{path}: short .note.stapsdt entry")
    pc, base, sem = struct.unpack_from("<QQQ", desc, 0)
    parts = desc[24:].split(b"\0")
    if len(parts) < 3:
        raise ElfError(f"{path}: malformed .note.stapsdt entry")
    provider, name, args = (p.decode("utf-8", "replace") for p in parts[:3])
    if actual_base is not None and base and actual_base != base:
        delta = actual_base - base
        pc += delta
        if sem:
            sem += delta
    return UsdtProbe(path, provider, name, pc, base, sem, args,
                     [parse_arg_spec(a) for a in split_args(args)])


def read_usdt_probes(path_or_elf: str | ElfFile) -> list[UsdtProbe]:
    """Every USDT probe in the file, in note order."""
    elf = path_or_elf if isinstance(path_or_elf, ElfFile) else ElfFile(path_or_elf)
    try:
        sb = elf.section(".stapsdt.base")
        actual_base = sb.addr if sb is not None else None
        out = []
        for n in elf.notes():
            if n.name != "stapsdt" or n.type != NT_STAPSDT:
                continue
            p = decode_note(n.desc, actual_base, elf.path)
            p.pc_offset = elf.vaddr_to_offset(p.pc)
            if p.semaphore:
                p.semaphore_offset = elf.vaddr_to_offset(p.semaphore)
            out.append(p)
        return out
    finally:
        if not isinstance(path_or_elf, ElfFile):
            elf.close()


def find_usdt_probes(path: str, provider: str = "*", name: str = "*") -> list[UsdtProbe]:
    """Probes whose provider and name match the globs (bpftrace's
    ``usdt:path:provider:name`` wildcards)."""
    return [p for p in read_usdt_probes(path)
            if fnmatch.fnmatchcase(p.provider, provider)
            and fnmatch.fnmatchcase(p.name, name)]
