/* USDT probes written out by hand in the SystemTap SDT note format (what
 * <sys/sdt.h> emits), so the tests need no systemtap-sdt-dev: a nop at the
 * probe site, a .note.stapsdt entry (owner "stapsdt", type 3: pc, base,
 * semaphore, provider, name, args) and the .stapsdt.base section. */
#include <stdio.h>

#define NOTE_HEAD(label)                                                  \
    ".globl " label "\n" label ":\n990: nop\n"                           \
    ".pushsection .note.stapsdt,\"?\",\"note\"\n"                         \
    ".balign 4\n"                                                         \
    ".4byte 992f-991f, 994f-993f, 3\n"                                    \
    "991: .asciz \"stapsdt\"\n"                                           \
    "992: .balign 4\n"                                                    \
    "993: .8byte 990b\n"                                                  \
    ".8byte _.stapsdt.base\n"

#define NOTE_TAIL                                                         \
    "994: .balign 4\n"                                                    \
    ".popsection\n"                                                       \
    ".ifndef _.stapsdt.base\n"                                            \
    ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
    ".weak _.stapsdt.base\n"                                              \
    ".hidden _.stapsdt.base\n"                                            \
    "_.stapsdt.base: .space 1\n"                                          \
    ".size _.stapsdt.base, 1\n"                                           \
    ".popsection\n"                                                       \
    ".endif\n"

/* The semaphore a tracer increments (in .probes, as sdt.h puts it). */
__attribute__((section(".probes"), used)) volatile unsigned short
    myprov_withsem_semaphore;

__attribute__((noinline)) int fire(int a, long b) {
    long local = b * 2;
    /* Register operands chosen by the compiler: %k0 is 32-bit, %q1 64-bit. */
    __asm__ __volatile__(NOTE_HEAD("site_regs") ".8byte 0\n"
                         ".asciz \"myprov\"\n.asciz \"regs\"\n"
                         ".asciz \"-4@%k0 8@%q1\"\n" NOTE_TAIL
                         :: "r"(a), "r"(local));
    /* A fixed argument string covering every operand form. */
    __asm__ __volatile__(NOTE_HEAD("site_forms") ".8byte 0\n"
                         ".asciz \"myprov\"\n.asciz \"forms\"\n"
                         ".asciz \"-4@%%edi 8@-8(%%rbp) 4@$5 -8@%%rax "
                         "8@16(%%rsp,%%rcx,8) 2@%%ax 1@%%ah -1@%%r9b "
                         "8@counter+8(%%rip) 8@(%%rdx)\"\n" NOTE_TAIL
                         :: "i"(0));
    /* With a semaphore. */
    __asm__ __volatile__(NOTE_HEAD("site_sem")
                         ".8byte myprov_withsem_semaphore\n"
                         ".asciz \"myprov\"\n.asciz \"withsem\"\n"
                         ".asciz \"\"\n" NOTE_TAIL);
    /* A second provider. */
    __asm__ __volatile__(NOTE_HEAD("site_other") ".8byte 0\n"
                         ".asciz \"other\"\n.asciz \"tick\"\n"
                         ".asciz \"4@$42\"\n" NOTE_TAIL);
    return (int)local + a;
}

int main(int argc, char **argv) {
    (void)argv;
    printf("%d %d\n", fire(argc, 5), myprov_withsem_semaphore);
    return 0;
}
