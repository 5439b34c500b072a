/* A call chain built without frame pointers (tests/e2e/test_dw_ustack.py):
 * main -> outer -> middle -> inner -> leaf, each with a frame of its own
 * size, called N times (the argument) 20 ms apart; with "spin" it burns
 * CPU in leaf instead, for a profile probe to sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) long leaf(long x, int spin)
{
    long n = spin ? 4000000 : 1;
    for (long i = 0; i < n; i++)
        x = x * 31 + i;
    sink = x;
    return x;
}

__attribute__((noinline)) long inner(long x, int spin)
{
    volatile char pad[40];
    pad[0] = (char)x;
    return leaf(x + pad[0], spin) + 1;
}

__attribute__((noinline)) long middle(long x, int spin)
{
    volatile long pad[30];
    pad[3] = x;
    return inner(pad[3] + 1, spin) ^ 3;
}

__attribute__((noinline)) long outer(long x, int spin)
{
    long r = middle(x * 2, spin);
    sink = r;
    return r + 7;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
    long s = 0;
    for (int i = 0; i < rounds; i++) {
        s += outer(i, spin);
        if (!spin)
            usleep(20000);
    }
    printf("%ld\n", s);
    return 0;
}
