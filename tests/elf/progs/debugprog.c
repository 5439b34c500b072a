/* A program to strip: its symbols and DWARF live in a separate debug
   file (tests/elf/test_debugfile.py). */
#include <stdio.h>
#include <stdlib.h>

static inline int dbg_compute(int x) { return x * 3 + 1; }

__attribute__((noinline)) int dbg_worker(int x) {
    asm volatile("");
    return dbg_compute(x) + 2;
}

__attribute__((noinline)) static int dbg_static(int x) {
    asm volatile("");
    return x - 1;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    long s = 0;
    for (int i = 0; i < n; i++)
        s += dbg_worker(i) + dbg_static(i) + dbg_compute(n);
    printf("%ld\n", s);
    return 0;
}
