/* Functions whose code bpfscope cannot check, for tests/attach/
   test_uprobe_checks.py: an opcode invalid in 64-bit mode at the entry and
   in the middle, a FUNC symbol in .bss (no bytes in the file), and one
   plain function.  Never run (main_nothing.c). */
#define FN(name) .globl name; .type name,@function; .align 16; name:
#define END(name) .size name, .-name
	.text
FN(bad_entry)
	.byte 0x06
	ret
END(bad_entry)
FN(bad_later)
	mov %rsi, %rax
	.byte 0x06
	mov %rdi, %rax
	ret
END(bad_later)
FN(good_riprel)
	mov konst(%rip), %rax
	add %rsi, %rax
	ret
END(good_riprel)
	.section .rodata
konst:	.quad 5
	.bss
	.align 16
FN(nobits_fn)
	.zero 32
END(nobits_fn)
	.section .note.GNU-stack,"",@progbits
