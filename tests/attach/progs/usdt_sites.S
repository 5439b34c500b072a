/* USDT probe sites written by hand (a .note.stapsdt entry per site, as
   <sys/sdt.h> makes them) for tests/attach/test_usdt_sites.py: two real
   sites on legacy nops in good_sites (called by usdt_sites.c), and two
   notes in bad_sites (never called) that point at a VEX instruction the
   kernel mishandles and inside an instruction. */
#define FN(name) .globl name; .type name,@function; .align 16; name:
#define END(name) .size name, .-name
#define NOTE(pc, prov, name) \
	.pushsection .note.stapsdt,"?","note"; .balign 4; \
	.4byte 992f-991f, 994f-993f, 3; \
991:	.asciz "stapsdt"; \
992:	.balign 4; \
993:	.8byte pc; .8byte _.stapsdt.base; .8byte 0; \
	.asciz prov; .asciz name; .asciz "-4@%edi"; \
994:	.balign 4; \
	.popsection

	.text
FN(good_sites)
1:	nop
	NOTE(1b, "bst", "nop_site")
2:	nopl 0x0(%rax,%rax,1)
	NOTE(2b, "bst", "long_nop_site")
	ret
END(good_sites)

FN(bad_sites)
3:	vpor %xmm3, %xmm3, %xmm4
	NOTE(3b, "bst", "vex_site")
4:	mov konst(%rip), %rax
	NOTE(4b+3, "bst", "inside_site")
	ret
END(bad_sites)

	.section .rodata
konst:	.quad 5
	.pushsection .stapsdt.base,"aG","progbits",.stapsdt.base,comdat
	.weak _.stapsdt.base
	.hidden _.stapsdt.base
_.stapsdt.base: .space 1
	.popsection
	.section .note.GNU-stack,"",@progbits
