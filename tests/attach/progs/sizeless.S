/* A function whose symbol has no .size (its end is unknown): bpfscope,
   like bpftrace, attaches a uprobe to it only with --unsafe. */
    .text
    .globl sizeless_fn
    .type sizeless_fn,@function
sizeless_fn:
    ret
    .section .note.GNU-stack,"",@progbits
