"""User stacks of code built without frame pointers (``dw_ustack()``),
unwound in user space from DWARF call frame information.

The BPF program sends the traced thread's registers and a copy of the top
of its stack (codegen: functions/symbols.py's dw_ustack); here each frame's
caller is found with the FDE of the module its instruction pointer is in
(elf.cfi, the module and its load bias from runtime.usyms), reading saved
registers and return addresses from that copy. Where a module has no FDE
for an address, the frame pointer chain is tried for that step. The walk
ends at an undefined return address (the outermost frame), outside the
copy, when the stack stops growing, or at ``limit`` frames. A module
without any FDE is said once, in bpftrace 0.26's words ("object F does
not contain a .eh_frame or .debug_frame section, can't extract information
for stack walking"), and walked by frame pointer.
"""

from __future__ import annotations

from ..elf.cfi import RA, RBP, RSP, CfiError, frame_table, step
from ..elf.reader import ElfError
from ..errors import warn
from .usyms import user_symbols

# x86-64 DWARF register numbers of the registers the record holds, in its order
RECORD_REGS = (RA, RSP, RBP, 3, 12, 13, 14, 15)   # rip rsp rbp rbx r12 r13 r14 r15


def unwind(pid: int, regs: dict[int, int], stack: bytes, limit: int) -> list[int]:
    """Return addresses, leaf first: the frames of the thread whose
    registers are ``regs`` (DWARF numbering) and whose stack from
    ``regs[RSP]`` on is ``stack``."""
    base = regs.get(RSP, 0)
    top = base + len(stack)

    def read(addr: int) -> int | None:
        if base <= addr and addr + 8 <= top:
            return int.from_bytes(stack[addr - base:addr - base + 8], "little")
        return None

    syms = user_symbols()
    frames: list[int] = []
    pc = regs.get(RA, 0)
    while pc and len(frames) < limit:
        frames.append(pc)
        # a caller's return address may be just past its last instruction
        lookup = pc if len(frames) == 1 else pc - 1
        caller = None
        mod = syms.module_at(pid, lookup)
        if mod is not None:
            elf, bias = mod
            try:
                table = frame_table(elf)
                if not table.fdes:
                    _warn_no_cfi(elf.path, table.has_sections)
                row = table.row_at(lookup - bias)
            except (CfiError, ElfError) as e:
                _warn_module(elf.path, e)
                row = None
            if row is not None:
                caller = step(row, regs, read)
                if caller is None:
                    break          # the outermost frame, or a rule past the copy
        if caller is None:
            caller = _frame_pointer_step(regs, read)
            if caller is None:
                break
        if caller.get(RSP, 0) <= regs.get(RSP, 0):
            break                  # not going up the stack: stop rather than loop
        regs, pc = caller, caller.get(RA, 0)
    return frames


def _frame_pointer_step(regs: dict[int, int], read) -> dict[int, int] | None:
    bp = regs.get(RBP)
    if not bp:
        return None
    ra, saved = read(bp + 8), read(bp)
    if ra is None or saved is None:
        return None
    return {RA: ra, RSP: bp + 16, RBP: saved}


def _warn_module(path: str, e: Exception) -> None:
    warn(f"{path}: its call frame information cannot be read ({e}); its frames "
         f"are unwound by frame pointer", key=("cfi", path))


def _warn_no_cfi(path: str, has_sections: bool) -> None:
    """bpftrace 0.26's words for a module without unwind data (once per
    module); its frames are then unwound by frame pointer."""
    if has_sections:
        warn(f"object {path} does not contain information for stack walking",
             key=("cfi", path))
    else:
        warn(f"object {path} does not contain a .eh_frame or .debug_frame section, "
             f"can't extract information for stack walking", key=("cfi", path))
