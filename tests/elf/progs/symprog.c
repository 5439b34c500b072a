/* Known functions for the ELF reader tests: globals, a static, data, an
 * IFUNC, and -O2 shapes GCC splits (.cold, .constprop, .part). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int global_counter = 42;
static char static_buf[64];
const char ro_message[] = "hello";

__attribute__((noinline)) int add_numbers(int a, int b) { return a + b; }

__attribute__((noinline)) static int static_helper(int x) {
    static_buf[x & 63]++;
    return x * 2 + static_buf[0];
}

__attribute__((cold, noinline)) void report(int x) {
    fprintf(stderr, "bad %d\n", x);
}

/* A path that calls a cold function and exits: GCC moves it to work.cold. */
__attribute__((noinline)) int work(int x) {
    if (x < 0) {
        report(x);
        fprintf(stderr, "negative %d\n", x);
        exit(3);
    }
    return x * 3 + 1;
}

/* Always called with k == 7: GCC clones it as scale.constprop.0. */
__attribute__((noinline)) static int scale(int x, int k) {
    int s = 0;
    for (int i = 0; i < x; i++)
        s += i * k + static_buf[i & 63];
    return s;
}

/* A cheap early exit before a large body invites partial inlining:
 * big_body.part.0. */
static int big_body(const char *s) {
    if (!s)
        return 0;
    int h = 0;
    for (int r = 0; r < 3; r++)
        for (const char *p = s; *p; p++) {
            h = h * 131 + *p;
            h ^= h >> 7;
            static_buf[h & 63] += (char)r;
            if (h == 12345)
                puts(s);
        }
    return h + (int)strlen(s);
}

static int impl_a(void) { return 1; }
static int (*resolve_pick(void))(void) { return impl_a; }
int picked(void) __attribute__((ifunc("resolve_pick")));

int main(int argc, char **argv) {
    int r = add_numbers(argc, 2) + static_helper(argc) + work(argc);
    r += scale(argc, 7) + scale(argc + 1, 7);
    r += big_body(argc > 1 ? argv[1] : NULL) + big_body(argv[0]);
    r += picked() + global_counter + ro_message[0];
    printf("%d\n", r);
    return 0;
}
