"""x86-64 registers as the kernel saves them for a kprobe or a uprobe
(``struct pt_regs``, the context of those programs): the offset a BPF
program reads each register at, by the assembler's names (USDT operands
such as ``%edi`` or ``-8(%rbp)``), by the field names of struct pt_regs
(``reg("di")``), and for the calling convention's arguments and return
value (``arg0``..``arg5``, ``retval``)."""

from __future__ import annotations

# struct pt_regs on x86-64 (arch/x86/include/asm/ptrace.h), in order.
PT_REGS_X86_64 = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40,
    "r11": 48, "r10": 56, "r9": 64, "r8": 72, "rax": 80, "rcx": 88,
    "rdx": 96, "rsi": 104, "rdi": 112, "orig_rax": 120, "rip": 128,
    "cs": 136, "eflags": 144, "rsp": 152, "ss": 160,
}


def _x86_register_table() -> dict[str, tuple[str, int, int]]:
    """Every x86-64 integer register name -> (64-bit register, width in
    bytes, byte offset within it); ``ah`` is byte 1 of ``rax``."""
    t: dict[str, tuple[str, int, int]] = {}
    for x in "abcd":
        full = f"r{x}x"
        t[full] = (full, 8, 0)
        t[f"e{x}x"] = (full, 4, 0)
        t[f"{x}x"] = (full, 2, 0)
        t[f"{x}l"] = (full, 1, 0)
        t[f"{x}h"] = (full, 1, 1)
    for x in ("si", "di", "bp", "sp"):
        full = f"r{x}"
        t[full] = (full, 8, 0)
        t[f"e{x}"] = (full, 4, 0)
        t[x] = (full, 2, 0)
        t[f"{x}l"] = (full, 1, 0)
    for n in range(8, 16):
        full = f"r{n}"
        t[full] = (full, 8, 0)
        t[f"r{n}d"] = (full, 4, 0)
        t[f"r{n}w"] = (full, 2, 0)
        t[f"r{n}b"] = (full, 1, 0)
        t[f"r{n}l"] = (full, 1, 0)
    t["rip"] = ("rip", 8, 0)
    t["eip"] = ("rip", 4, 0)
    return t


X86_64_REGISTERS = _x86_register_table()

# reg()'s names: the fields of the kernel's struct pt_regs (x86-64), which
# drop the r/e of the assembler's names for the legacy registers.
PT_REGS = {name: PT_REGS_X86_64[asm] for name, asm in (
    ("r15", "r15"), ("r14", "r14"), ("r13", "r13"), ("r12", "r12"), ("bp", "rbp"),
    ("bx", "rbx"), ("r11", "r11"), ("r10", "r10"), ("r9", "r9"), ("r8", "r8"),
    ("ax", "rax"), ("cx", "rcx"), ("dx", "rdx"), ("si", "rsi"), ("di", "rdi"),
    ("orig_ax", "orig_rax"), ("ip", "rip"), ("cs", "cs"), ("flags", "eflags"),
    ("sp", "rsp"), ("ss", "ss"))}

# struct pt_regs offsets (x86-64) of the argument registers and the return
# value: arg0..arg5 are rdi, rsi, rdx, rcx, r8, r9.
REGS_ARGS = tuple(PT_REGS_X86_64[r] for r in ("rdi", "rsi", "rdx", "rcx", "r8", "r9"))
REGS_RETVAL = PT_REGS_X86_64["rax"]
REGS_IP = PT_REGS_X86_64["rip"]
REGS_SP = PT_REGS_X86_64["rsp"]
