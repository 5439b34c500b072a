/* Shapes of inlining and splitting for the inlined-function checks
 * (bpfscope.attach.inlined); built at -O2 -g, -O0 -g and -O2 by the tests.
 * At -O2 (GCC 12): compute is inlined into main and run with no copy left,
 * helper is inlined into main but keeps a copy (its address is taken),
 * work's unlikely path goes to work.cold. `inlined N` calls compute N+1
 * times and helper twice. */
#include <stdio.h>
#include <stdlib.h>

/* Always inlined, two callers, no out-of-line copy. */
static inline int compute(int x) {
    asm volatile("" : "+r"(x));
    return x * 3 + 1;
}

/* Inlined into main, but its address is taken: an out-of-line copy stays. */
static inline int helper(int x) {
    asm volatile("" : "+r"(x));
    return x * 5 + 2;
}
int (*volatile helper_ptr)(int) = helper;

__attribute__((cold, noinline)) void report(int x) { fprintf(stderr, "bad %d\n", x); }

/* The unlikely path moves to work.cold. */
__attribute__((noinline)) int work(int x) {
    if (__builtin_expect(x < 0, 0)) {
        report(x);
        fprintf(stderr, "negative %d\n", x);
        exit(3);
    }
    return x * 7 + 1;
}

__attribute__((noinline)) long run(int n) {
    long s = 0;
    for (int i = 0; i < n; i++) {
        s += compute(i);
        asm volatile("" ::: "memory");
    }
    return s;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    long s = compute(n);
    s += run(n);
    s += helper(n) + helper_ptr(n);
    s += work(n);
    printf("%ld\n", s);
    return 0;
}
