"""uaddr("sym"): where a symbol of the probed file is at run time.

bpftrace 0.26's rules: only in uprobe, uretprobe and usdt probes; the
symbol is looked up (at compile time) in the file the probe is on; the
value is a user-space pointer whose target type follows the symbol's size
(1, 2, 4, 8 bytes: uint8..uint64; anything else: uint64).

A fixed-address executable (ET_EXEC) holds the symbol where its symbol
table says. A position-independent file (PIE, shared library) is moved by
a load bias that differs from process to process, so the address is
computed as the probe runs: where the instruction pointer is at the probed
instruction (uprobe, usdt), ``ip - site + symbol``; in a uretprobe the
instruction pointer is the caller's return address and says nothing about
the file, so the bias is taken from the mappings of the -p process when
there is one, else, for a program (not a library), from the kernel's
record of where the running program's code starts: the task's
``mm->start_code`` is the lowest executable PT_LOAD address plus the bias.
Such an address is only given where the running program is that file
(``mm->exe_file``'s inode); elsewhere uaddr() is 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..btf import BtfError
from ..elf import ElfError, table_of
from ..errors import SemanticError, Span
from . import types as T
from .probes import ExpandedProbe

_WIDTHS = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}


@dataclass(frozen=True)
class UserAddress:
    """How the code generator makes the value: ``base`` 'abs' is the
    constant ``value``; 'ip' is the probe's instruction pointer + ``value``;
    'exe' is the current task's mm->start_code + ``value`` when its
    mm->exe_file has inode ``inode`` (else 0), the kernel structure offsets
    in ``kernel`` (task_struct.mm, mm_struct.start_code, mm_struct.exe_file,
    file.f_inode, inode.i_ino)."""
    base: str
    value: int
    type: T.PointerType
    inode: int = 0
    kernel: tuple = ()


def resolve(probe: ExpandedProbe, name: str, span: Span | None) -> UserAddress:
    if not probe.layout.user:  # the provider's declaration (uprobe, usdt)
        raise SemanticError(f'uaddr can not be used with "{probe.provider}" probes', span)
    try:
        sym = table_of(probe.binary).lookup_one(name, functions_only=False)
    except ElfError:
        sym = None
    if sym is None:
        raise SemanticError(f"Could not resolve symbol: {probe.binary}:{name}", span)
    ptr = T.PointerType(target=_WIDTHS.get(sym.size, "uint64"), user=True)
    if probe.site_vaddr is not None and probe.load_bias != 0:
        return UserAddress("ip", sym.value - probe.site_vaddr, ptr)
    if probe.load_bias is not None:
        return UserAddress("abs", sym.value + probe.load_bias, ptr)
    program = _program_code_start(probe.binary)
    if program is not None:
        code_start, inode = program
        try:
            kernel = _kernel_offsets()
        except (BtfError, KeyError, OSError):
            kernel = None
        if kernel is not None:
            return UserAddress("exe", sym.value - code_start, ptr, inode, kernel)
    raise SemanticError(
        f"uaddr(\"{name}\"): {probe.binary} is a position-independent library, so "
        f"where {name} is depends on the process; in a uretprobe that is only "
        f"known for a running process: trace it with -p PID, or use uaddr() in a "
        f"uprobe", span)


PF_X = 1


def _program_code_start(path: str) -> tuple[int, int] | None:
    """(lowest executable PT_LOAD address, inode) of a program (a file with
    an interpreter); None for a library."""
    try:
        elf = table_of(path).elf
        # libc.so.6 has an interpreter too: it can be run
        if elf.interpreter is None or ".so" in os.path.basename(path):
            return None
        starts = [s.vaddr for s in elf.load_segments if s.flags & PF_X]
        return (min(starts), os.stat(path).st_ino) if starts else None
    except (ElfError, OSError):
        return None


_offsets: tuple | None = None


def _kernel_offsets() -> tuple:
    global _offsets
    if _offsets is None:
        from ..btf import load_vmlinux
        kb = load_vmlinux()
        _offsets = (kb.offsetof("task_struct", "mm"), kb.offsetof("mm_struct", "start_code"),
                    kb.offsetof("mm_struct", "exe_file"), kb.offsetof("file", "f_inode"),
                    kb.offsetof("inode", "i_ino"))
    return _offsets
