/* Functions whose FIRST instruction is of one encoding class each, for
   tests/attach/test_insn_entry_kernel.py and the experiment recorded in
   bpfscope/arch/x86_insn.py: a uprobe sits on the entry of one of them
   while insn_entry.c checks what it computes.  All take (a=rdi, b=rsi). */
	.text
	.section .rodata
	.align 64
konst:	.quad 0x1122334455667788, 0x99aabbccddeeff00, 3, 4, 5, 6, 7, 8
	.text

#define FN(name) .globl name; .type name,@function; .align 16; name:
#define END(name) .size name, .-name

/* EVEX, high register ymm17 (glibc's __strchrnul_evex entry) */
FN(evex_ymm17)
	vpbroadcastb %esi, %ymm17
	vmovd %xmm17, %eax
	ret
END(evex_ymm17)

/* EVEX, low register (vpbroadcastb from a GPR exists only as EVEX) */
FN(evex_xmm1)
	vpbroadcastb %esi, %xmm1
	vmovd %xmm1, %eax
	ret
END(evex_xmm1)

/* EVEX, zmm with low register, check an upper lane */
FN(evex_zmm2)
	vpbroadcastq %rsi, %zmm2
	vextracti64x4 $1, %zmm2, %ymm0
	vextracti128 $1, %ymm0, %xmm0
	vmovq %xmm0, %rax
	vzeroupper
	ret
END(evex_zmm2)

/* EVEX, zmm31, upper lane */
FN(evex_zmm31)
	vpbroadcastq %rsi, %zmm31
	vextracti64x4 $1, %zmm31, %ymm0
	vextracti128 $1, %ymm0, %xmm0
	vmovq %xmm0, %rax
	vzeroupper
	ret
END(evex_zmm31)

/* EVEX load through rdi into zmm16 */
FN(evex_load16)
	vmovdqu64 (%rdi), %zmm16
	vextracti64x4 $1, %zmm16, %ymm0
	vmovq %xmm0, %rax
	vmovq %xmm16, %rcx
	add %rcx, %rax
	vzeroupper
	ret
END(evex_load16)

/* EVEX RIP-relative load into xmm17 */
FN(evex_riprel)
	vmovdqu64 konst(%rip), %xmm17
	vmovq %xmm17, %rax
	add %rsi, %rax
	ret
END(evex_riprel)

/* EVEX vpxorq zeroing xmm16 (glibc's __strlen_evex second instruction) */
FN(evex_vpxorq16)
	vpxorq %xmm16, %xmm16, %xmm16
	vmovq %xmm16, %rax
	add %rsi, %rax
	ret
END(evex_vpxorq16)

/* EVEX with an opmask destination-merge: vpcmpeqb into k1 */
FN(evex_kcmp)
	vpcmpeqb %xmm1, %xmm1, %k1
	kmovq %k1, %rax
	add %rsi, %rax
	ret
END(evex_kcmp)

/* VEX2, AVX */
FN(vex2_xmm)
	vmovd %esi, %xmm0
	vpshufd $0, %xmm0, %xmm0
	vpextrd $3, %xmm0, %eax
	ret
END(vex2_xmm)

/* VEX3, AVX2 map 0F38, ymm upper lane */
FN(vex3_ymm)
	vpbroadcastd %xmm1, %ymm1
	vmovd %esi, %xmm0
	vpbroadcastd %xmm0, %ymm0
	vextracti128 $1, %ymm0, %xmm0
	vmovd %xmm0, %eax
	vzeroupper
	ret
END(vex3_ymm)

/* VEX3 with xmm9 (REX-like extension bits) */
FN(vex3_xmm9)
	vmovq %rsi, %xmm9
	vmovq %xmm9, %rax
	ret
END(vex3_xmm9)

/* VEX RIP-relative */
FN(vex_riprel)
	vmovdqu konst(%rip), %xmm3
	vmovq %xmm3, %rax
	add %rsi, %rax
	ret
END(vex_riprel)

/* VEX-encoded opmask instruction (AVX-512 kmov) */
FN(vex_kmov)
	kmovq %rsi, %k2
	kmovq %k2, %rax
	ret
END(vex_kmov)

/* VEX-encoded BMI2 on GPRs */
FN(vex_bmi)
	bzhi %esi, %edi, %eax
	ret
END(vex_bmi)

/* legacy SSE */
FN(sse_xmm)
	movq %rsi, %xmm0
	paddq %xmm0, %xmm0
	movq %xmm0, %rax
	ret
END(sse_xmm)

/* legacy SSE RIP-relative */
FN(sse_riprel)
	movdqu konst(%rip), %xmm0
	movq %xmm0, %rax
	add %rsi, %rax
	ret
END(sse_riprel)

/* legacy integer */
FN(legacy_lea)
	lea (%rdi,%rsi,2), %rax
	ret
END(legacy_lea)

/* legacy RIP-relative */
FN(legacy_riprel)
	mov konst(%rip), %rax
	add %rsi, %rax
	ret
END(legacy_riprel)

/* push (the kernel emulates it) */
FN(legacy_push)
	push %rbp
	mov %rsi, %rax
	pop %rbp
	ret
END(legacy_push)

/* A leaf whose entry is a plain nop: the probe sits there while the
   callers below keep values in vector registers across the call. */
FN(leaf_nop)
	nop
	ret
END(leaf_nop)

FN(hold_zmm20)   /* zmm20 (EVEX-only register) live across a probed call */
	vpbroadcastq %rsi, %zmm20
	call leaf_nop
	vextracti64x4 $1, %zmm20, %ymm0
	vmovq %xmm0, %rax
	vzeroupper
	ret
END(hold_zmm20)

FN(hold_ymm5)    /* ymm5 upper lane live across a probed call */
	vmovq %rsi, %xmm5
	vpbroadcastq %xmm5, %ymm5
	call leaf_nop
	vextracti128 $1, %ymm5, %xmm0
	vmovq %xmm0, %rax
	vzeroupper
	ret
END(hold_ymm5)

FN(hold_k3)      /* opmask k3 live across a probed call */
	kmovq %rsi, %k3
	call leaf_nop
	kmovq %k3, %rax
	ret
END(hold_k3)


/* VEX, opcode byte 70 (vpshufd) */
FN(vex_pshufd)
	vmovq %rsi, %xmm0
	vpshufd $0x44, %xmm0, %xmm1
	vpextrq $1, %xmm1, %rax
	ret
END(vex_pshufd)

FN(vex_pshufd_e) /* the same with vpshufd first */
	vpshufd $0x44, %xmm7, %xmm1
	vpextrq $1, %xmm1, %rax
	add %rsi, %rax
	ret
END(vex_pshufd_e)

/* VEX, opcode byte 57 (vxorps zeroing) */
FN(vex_xorps)
	vxorps %xmm2, %xmm2, %xmm2
	vmovq %xmm2, %rax
	add %rsi, %rax
	ret
END(vex_xorps)

/* VEX, opcode byte EB (vpor) */
FN(vex_por)
	vpor %xmm3, %xmm3, %xmm4
	vpcmpeqq %xmm3, %xmm4, %xmm4
	vmovq %xmm4, %rax
	add %rsi, %rax
	add $1, %rax
	ret
END(vex_por)

/* VEX, opcode byte 90 (kmovw k, k) */
FN(vex_kmovkk)
	kxnorw %k0, %k0, %k5
	kmovw %k5, %k6
	kmovw %k6, %eax
	add %rsi, %rax
	sub $0xffff, %rax
	ret
END(vex_kmovkk)

FN(vex_kmovkk_e) /* kmovw first */
	kmovw %k5, %k6
	kmovw %k6, %eax
	add %rsi, %rax
	sub $0xffff, %rax
	ret
END(vex_kmovkk_e)

/* VEX, opcode byte 77 (vzeroupper) */
FN(vex_vzeroupper)
	vzeroupper
	mov %rsi, %rax
	ret
END(vex_vzeroupper)

/* EVEX with opcode byte 58 (vpbroadcastd from xmm, zmm16) */
FN(evex_bcast58)
	vpbroadcastd %xmm7, %zmm16
	vmovq %rsi, %xmm16
	vmovq %xmm16, %rax
	ret
END(evex_bcast58)

/* SSE with opcode 70 (pshufd, legacy 66 0F 70) */
FN(sse_pshufd)
	pshufd $0x44, %xmm7, %xmm1
	mov %rsi, %rax
	ret
END(sse_pshufd)

	.section .note.GNU-stack,"",@progbits
