"""bpfscope.arch.x86_64: the one table of struct pt_regs offsets, and the
names sema, codegen, attach and the USDT decoder read it by."""

from bpfscope.arch import x86_64 as X


def test_calling_convention_offsets_are_the_pt_regs_fields():
    # The kernel's struct pt_regs: di at 112, si 104, dx 96, cx 88, r8 72,
    # r9 64, ax 80, ip 128, sp 152 (arch/x86/include/asm/ptrace.h).
    assert X.REGS_ARGS == (112, 104, 96, 88, 72, 64)
    assert (X.REGS_RETVAL, X.REGS_IP, X.REGS_SP) == (80, 128, 152)


def test_reg_names_cover_every_pt_regs_slot_once():
    assert sorted(X.PT_REGS.values()) == sorted(X.PT_REGS_X86_64.values())
    assert X.PT_REGS["di"] == X.PT_REGS_X86_64["rdi"] == 112
    assert X.PT_REGS["flags"] == X.PT_REGS_X86_64["eflags"]
    assert X.PT_REGS["orig_ax"] == X.PT_REGS_X86_64["orig_rax"]


def test_every_register_name_maps_into_pt_regs():
    for name, (full, width, byte_off) in X.X86_64_REGISTERS.items():
        assert full in X.PT_REGS_X86_64, name
        assert width in (1, 2, 4, 8) and byte_off + width <= 8
    assert X.X86_64_REGISTERS["ah"] == ("rax", 1, 1)
    assert X.X86_64_REGISTERS["r9d"] == ("r9", 4, 0)


def test_the_users_share_the_one_table():
    from bpfscope.attach import usdt
    from bpfscope.elf import usdt as elf_usdt
    from bpfscope.functions import symbols
    from bpfscope.functions import context
    assert elf_usdt.PT_REGS_X86_64 is X.PT_REGS_X86_64
    assert symbols.PT_REGS is X.PT_REGS  # reg()
    assert context.REGS_ARGS is X.REGS_ARGS
    assert usdt.RIP == X.REGS_IP
